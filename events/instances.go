package events

import (
	"strconv"
	"strings"
)

// A worker with instances = N in the configuration is N workers, NAME@1 …
// NAME@N, each an ordinary worker of the log; the scaled event names the
// group (NAME). The name form is part of the log's vocabulary: readers of
// the log (status, the report) group instances by it.

// InstanceSep separates a group's name from an instance's number. Worker
// names written in a configuration cannot hold it, so an instance's name
// never collides with a worker's.
const InstanceSep = "@"

// InstanceName is the name of instance i of group.
func InstanceName(group string, i int) string { return group + InstanceSep + strconv.Itoa(i) }

// SplitInstance reads an instance's name: its group and number, ok false
// when name is not one.
func SplitInstance(name string) (group string, i int, ok bool) {
	at := strings.LastIndex(name, InstanceSep)
	if at <= 0 {
		return "", 0, false
	}
	n, err := strconv.Atoi(name[at+1:])
	if err != nil || n < 1 || strconv.Itoa(n) != name[at+1:] {
		return "", 0, false
	}
	return name[:at], n, true
}

// CompareNames orders workers by name, the instances of a group by their
// number (web@2 before web@10), for every listing of workers.
func CompareNames(a, b string) int {
	ga, ia, oka := SplitInstance(a)
	gb, ib, okb := SplitInstance(b)
	if !oka {
		ga = a
	}
	if !okb {
		gb = b
	}
	if c := strings.Compare(ga, gb); c != 0 {
		return c
	}
	return ia - ib
}
