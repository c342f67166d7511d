// Package archtest holds the project's shape in tests: which package may
// import which (dependencies point one way, toward events), that pure
// packages read no clock and do no I/O, and that every package says what it
// is for. It has no code of its own.
package archtest
