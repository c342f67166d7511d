// Package peer is the door of every unix socket the daemon serves: the
// control API and supervisorctl's XML-RPC socket alike. It creates the
// socket file without harming whatever else is at its path, learns from
// the kernel who is connecting (SO_PEERCRED and SO_PEERGROUPS, as captured
// at connect time), applies the one uid rule, and bounds what connections
// may cost: how many admitted ones are open, a reserve that only root and
// the daemon's own uid may use, how many refused ones are being answered,
// and how often a refusal reaches the event log.
//
// It may not decide what an admitted client may do, speak any protocol
// beyond the one short HTTP answer it gives a connection it turns away, or
// write to the log itself: refusals are reported to a callback on a
// goroutine of their own, so that recording never holds up an accept.
package peer
