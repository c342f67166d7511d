//go:build !tend_mutant_nolock

package supervisor

import "sync"

// mutantUnlockedGap does nothing; the tend_mutant_nolock build drops the lock
// here, which proptest uses to show its properties catch the broken variant.
func mutantUnlockedGap(*sync.Mutex) {}
