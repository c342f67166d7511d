package config

import "sort"

// Diff compares two configs worker by worker using Worker.Hash, which is
// what a reload needs: start the added, stop the removed, restart the
// changed. A nil config counts as one with no workers.
func Diff(old, new *Config) (added, removed, changed []string) {
	var ow, nw map[string]*Worker
	if old != nil {
		ow = old.Workers
	}
	if new != nil {
		nw = new.Workers
	}
	for name, w := range nw {
		o, ok := ow[name]
		switch {
		case !ok:
			added = append(added, name)
		case hashOf(o) != hashOf(w):
			changed = append(changed, name)
		}
	}
	for name := range ow {
		if _, ok := nw[name]; !ok {
			removed = append(removed, name)
		}
	}
	sort.Strings(added)
	sort.Strings(removed)
	sort.Strings(changed)
	return added, removed, changed
}

func hashOf(w *Worker) string {
	if w == nil {
		return ""
	}
	return w.Hash
}
