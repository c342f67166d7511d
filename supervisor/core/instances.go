package core

import "github.com/tendhq/tend/events"

// Instances: a worker with instances = N in the configuration is N workers,
// NAME@1 … NAME@N (events.InstanceName), each an ordinary worker with its
// own state, log events and output. The group (NAME) has no state of its
// own beyond its count: the configuration's, or a runtime scale's (the
// scaled event, World.Scales) until the configuration's count changes.

// InstanceName is the name of instance i of group (events.InstanceName),
// for the configuration, which names instances but does not read the log.
func InstanceName(group string, i int) string { return events.InstanceName(group, i) }

// SplitInstance is events.SplitInstance.
func SplitInstance(name string) (group string, i int, ok bool) { return events.SplitInstance(name) }
