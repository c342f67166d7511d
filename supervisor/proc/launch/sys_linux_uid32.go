//go:build linux && (386 || arm)

package launch

import "syscall"

// On 386 and arm the plain calls take 16-bit ids.
const (
	sysSetgroups = syscall.SYS_SETGROUPS32
	sysSetresgid = syscall.SYS_SETRESGID32
	sysSetresuid = syscall.SYS_SETRESUID32
)
