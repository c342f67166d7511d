package main

import "github.com/tendhq/tend/supervisor/proc"

func findMarked(instance string) ([]int, error) {
	ms, err := proc.FindMarked(instance)
	out := make([]int, len(ms))
	for i, m := range ms {
		out[i] = m.Identity.PID
	}
	return out, err
}
