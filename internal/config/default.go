package config

import (
	_ "embed"
	"fmt"
)

// defaultYAML is the built-in configuration. It is a YAML file rather than Go
// values so that users can print it, copy it and edit it, and so that it goes
// through the same Parse (and the same validation) as theirs.
//
//go:embed default.yaml
var defaultYAML []byte

// DefaultFile is the File of the built-in configuration.
const DefaultFile = "<default>"

// Default returns the built-in configuration, freshly parsed so the caller may
// change it. It panics if the embedded file does not validate, which a test
// rules out.
func Default() *Config {
	c, err := Parse(DefaultFile, defaultYAML)
	if err != nil {
		panic(fmt.Sprintf("the built-in configuration is invalid:\n%v", err))
	}
	return c
}

// DefaultYAML returns the built-in configuration file, comments included, for
// `lookout run -print-default-config`.
func DefaultYAML() []byte {
	return append([]byte(nil), defaultYAML...)
}
