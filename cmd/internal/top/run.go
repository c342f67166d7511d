package top

import (
	"context"
	"errors"
	"os"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/mattn/go-isatty"

	"github.com/tendhq/tend/cmd/internal/client"
)

// ErrNotTerminal says stdout is not a terminal, where a full-screen view
// has nothing to draw on.
var ErrNotTerminal = errors.New("stdout is not a terminal: `tend top` needs one (`tend status` prints a table, `tend events --follow` a stream)")

// Run shows the live view of the daemon c talks to on the terminal, until
// the user quits or ctx ends. It asks for the status first, so a daemon
// that is not there, or a socket the user may not open, is an error
// before the screen is taken.
func Run(ctx context.Context, c *client.Client, interval time.Duration) error {
	if !isatty.IsTerminal(os.Stdout.Fd()) {
		return ErrNotTerminal
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	b := NewBackend(c)
	st, err := b.Status(ctx)
	if err != nil {
		return err
	}
	m := New(ctx, b, st, interval)
	_, err = tea.NewProgram(m, tea.WithContext(ctx)).Run()
	if errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil {
		return nil // SIGINT or SIGTERM
	}
	return err
}
