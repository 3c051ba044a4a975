package app

import (
	"context"
	"errors"
	"fmt"
)

// Reload validates the config file again. An invalid file is refused with its
// errors and the running configuration stays.
//
// Applying a valid change in place (keeping window and alert state) is the hot
// reload of issue 11; until it lands a valid changed file is reported as needing
// a restart rather than being half-applied.
func (a *App) Reload(ctx context.Context) error {
	if a.cfg.File == "" || a.cfg.File == "<default>" {
		return nil // the built-in configuration cannot change
	}
	cfg, err := loadConfig(a.cfg.File)
	if err != nil {
		return err
	}
	cfg.Storage.Path, cfg.Server.Listen = a.cfg.Storage.Path, a.cfg.Server.Listen
	if err := Check(cfg); err != nil {
		return err
	}
	return fmt.Errorf("%w: the new config is valid, but applying it needs a restart in this version", errors.ErrUnsupported)
}
