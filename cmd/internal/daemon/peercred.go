package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/tendhq/tend/cmd/internal/client"
	"github.com/tendhq/tend/cmd/internal/peer"
)

// peerKey holds, in a request's context, the credentials of the peer
// that the socket's peer.Listener admitted.
type peerKey struct{}

func withPeer(ctx context.Context, c net.Conn) context.Context {
	if pc, ok := c.(*peer.Conn); ok {
		return context.WithValue(ctx, peerKey{}, pc.Cred)
	}
	return ctx
}

func peerOf(ctx context.Context) (peer.Cred, bool) {
	p, ok := ctx.Value(peerKey{}).(peer.Cred)
	return p, ok
}

// actor is how a control API client appears in the log.
func actor(p peer.Cred) string { return fmt.Sprintf("cli uid=%d", p.UID) }

// gate wraps a socket's listener in the one uid rule and the limits every
// socket of the daemon shares; where names the socket in refusal events.
func (d *Daemon) gate(ln net.Listener, where string, refused, busy func(peer.Cred) []byte) *peer.Listener {
	return peer.NewListener(ln, peer.Options{
		Rule:    peer.Rule{UID: d.uid, GID: d.gid},
		Refused: refused,
		Busy:    busy,
		Report:  func(r peer.Report) { d.recordRefusal(where, r) },
		Open:    func(n int) { d.clients.Add(int64(n)) },
	})
}

// recordRefusal writes a command_refused event: who was refused and on
// which socket, never what it asked for (a refused client must not be able
// to write into the log). It runs on the listener's reporting goroutine.
func (d *Daemon) recordRefusal(where string, r peer.Report) {
	who := fmt.Sprintf("uid=%d", r.Cred.UID)
	switch {
	case r.First:
		who = fmt.Sprintf("uid=%d gid=%d pid=%d", r.Cred.UID, r.Cred.GID, r.Cred.PID)
	case r.Others:
		who = "uids"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.sup.Refused(ctx, who, "refused on the "+where+": "+r.String()); err != nil {
		d.logger.Warn().Err(err).Str("socket", where).Msg("refusal not recorded")
	}
}

// apiAnswer is the JSON error body of the control API as a whole response,
// for connections the listener turns away before any HTTP is read.
func apiAnswer(status int, code, msg string) []byte {
	b, _ := json.Marshal(client.ErrorBody{Error: msg, Code: code})
	return peer.Answer(status, "", "application/json", string(b)+"\n")
}

func apiRefused(c peer.Cred) []byte {
	return apiAnswer(http.StatusForbidden, "refused", fmt.Sprintf("uid %d is not allowed to use this socket", c.UID))
}

func apiBusy(peer.Cred) []byte {
	return apiAnswer(http.StatusServiceUnavailable, "busy", fmt.Sprintf("all %d connections of the control socket are in use (events --follow and logs -f hold one each); try again", peer.MaxConns))
}
