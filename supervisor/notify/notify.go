// Package notify is the daemon's end of the systemd notification protocol
// (sd_notify): one datagram socket per worker incarnation, whose address the
// worker finds in NOTIFY_SOCKET, and the messages read from it, each with
// the sender's pid as the kernel gives it (SCM_CREDENTIALS), never as the
// message claims.
//
// It only receives and parses: whether a sender belongs to the worker, and
// what a message means for it, is its caller's to judge. It imports nothing
// of tend's.
package notify

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// maxMessage bounds one datagram: sd_notify messages are a few short
// lines; anything longer is cut and its tail ignored.
const maxMessage = 4096

// Message is one datagram.
type Message struct {
	PID int // the sender, from SCM_CREDENTIALS

	Ready     bool          // READY=1
	Reloading bool          // RELOADING=1
	Stopping  bool          // STOPPING=1
	Watchdog  bool          // WATCHDOG=1
	Status    *string       // STATUS=...
	Extend    time.Duration // EXTEND_TIMEOUT_USEC=...
	MainPID   int           // MAINPID=...
}

// Parse reads the newline-separated KEY=VALUE assignments of one
// datagram. Unknown keys are ignored, as systemd does.
func Parse(b []byte) Message {
	var m Message
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		switch k {
		case "READY":
			m.Ready = v == "1"
		case "RELOADING":
			m.Reloading = v == "1"
		case "STOPPING":
			m.Stopping = v == "1"
		case "WATCHDOG":
			m.Watchdog = v == "1"
		case "STATUS":
			s := v
			m.Status = &s
		case "EXTEND_TIMEOUT_USEC":
			if n, err := strconv.ParseUint(v, 10, 63); err == nil {
				m.Extend = time.Duration(min(n, uint64(24*time.Hour/time.Microsecond))) * time.Microsecond
			}
		case "MAINPID":
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				m.MainPID = n
			}
		}
	}
	return m
}

// Socket is one incarnation's notification socket. Reads go through the
// runtime's poller, so a thousand idle sockets hold no thread.
type Socket struct {
	conn    *net.UnixConn
	address string // for NOTIFY_SOCKET: "@" and the abstract name
}

// Listen opens a datagram socket in the abstract namespace under name
// (unique per incarnation), with SO_PASSCRED so every datagram carries its
// sender's pid. Abstract names need no file a worker could replace, and
// the sender check does not rest on who may connect.
func Listen(name string) (*Socket, error) {
	if len(name) > 100 {
		name = name[:100]
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: "@" + name, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("notify: listen @%s: %w", name, err)
	}
	raw, err := conn.SyscallConn()
	if err == nil {
		var serr error
		err = raw.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED, 1) })
		if err == nil {
			err = serr
		}
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("notify: SO_PASSCRED: %w", err)
	}
	return &Socket{conn: conn, address: "@" + name}, nil
}

// Address is the value of NOTIFY_SOCKET for the worker.
func (s *Socket) Address() string { return s.address }

// ErrClosed is returned by Read after Close.
var ErrClosed = errors.New("notify: socket closed")

// Read blocks for the next datagram. A datagram without credentials (which
// the kernel attaches with SO_PASSCRED) has PID 0.
func (s *Socket) Read() (Message, error) {
	buf := make([]byte, maxMessage)
	oob := make([]byte, unix.CmsgSpace(unix.SizeofUcred))
	n, oobn, _, _, err := s.conn.ReadMsgUnix(buf, oob)
	if err != nil {
		if errors.Is(err, net.ErrClosed) {
			return Message{}, ErrClosed
		}
		return Message{}, fmt.Errorf("notify: read: %w", err)
	}
	m := Parse(buf[:n])
	if cmsgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
		for _, c := range cmsgs {
			if cred, err := unix.ParseUnixCredentials(&c); err == nil {
				m.PID = int(cred.Pid)
			}
		}
	}
	return m, nil
}

// Close ends the socket; a Read in progress returns ErrClosed.
func (s *Socket) Close() error { return s.conn.Close() }

// Send sends one message to address, as a worker's sd_notify does (tests
// and the proctest helper use it).
func Send(address, msg string) error {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Sendto(fd, []byte(msg), 0, &unix.SockaddrUnix{Name: address})
}
