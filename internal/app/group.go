package app

// group runs lookout's long-lived goroutines and joins them, after the
// model of Prometheus's run.Group: each actor is an execute func and an
// interrupt func that makes it return. run starts every execute on a
// goroutine of its own; when the first returns, run calls every interrupt
// in the order the actors were added — so shutdown keeps that order, each
// interrupt may wait for its actor's work to stop — and returns once every
// execute has returned, with the first one's error.
type group struct {
	actors []actor
}

type actor struct {
	execute   func() error
	interrupt func(error)
}

func (g *group) add(execute func() error, interrupt func(error)) {
	g.actors = append(g.actors, actor{execute, interrupt})
}

func (g *group) run() error {
	if len(g.actors) == 0 {
		return nil
	}
	errs := make(chan error, len(g.actors))
	for _, a := range g.actors {
		go func() { errs <- a.execute() }()
	}
	err := <-errs
	for _, a := range g.actors {
		a.interrupt(err)
	}
	for range len(g.actors) - 1 {
		<-errs
	}
	return err
}
