package client

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// The client speaks HTTP/1.1 on the unix socket itself, one request per
// connection, rather than through net/http: net/http brings TLS, x509 and
// HTTP/2 with it, whose inits and pages every `tend status` would pay for.
// What it needs is small: a request line, a few headers, a status line,
// the response's headers, and a body of a given length, chunked (the
// daemon's streams) or up to the end of the connection.

// Bounds on what the other end of the socket may make the client read
// before the body: whoever can create a socket where a config points may
// answer anything.
const (
	maxHeaderLine  = 64 << 10
	maxHeaderLines = 100
)

// response is a status and a body, which reads the connection; closing
// the body closes the connection.
type response struct {
	StatusCode int
	Length     int64 // of the body, -1 when the daemon did not say
	Body       io.ReadCloser
	header     map[string]string // by lower-case name; the last of a name
}

// Header is the value of the response's header named k ("" when none).
func (r *response) Header(k string) string { return r.header[strings.ToLower(k)] }

// readAll reads a whole body into a buffer made for it once: for its
// length when the daemon says it (up to a bound: the length is the other
// end's word), or for a status of as many workers as it says
// (WorkersHeader), so that a short-lived client touches each page of it
// once. A body larger than that goes on into a buffer that doubles:
// append grows a large one by a quarter at a time, and a status of 3 MB
// was read through buffers of 16 MB in all, a page fault for every 4 KiB
// of them.
func readAll(r *response) ([]byte, error) {
	room := 64 << 10
	switch n, err := strconv.Atoi(r.Header(WorkersHeader)); {
	case r.Length >= 0 && r.Length <= 16<<20:
		room = int(r.Length) + 1 // +1: room to read the end without growing
	case err == nil && n >= 0 && n <= 1<<18:
		// More than a worker takes in the compact form (about 320
		// bytes), and than the daemon's own fields: room never written
		// to is never touched, and costs no page.
		room = n*768 + 64<<10
	}
	return readInto(r, make([]byte, 0, room))
}

// readInto reads a whole body into buf, which it grows as readAll does
// when the body needs more room than buf has.
func readInto(r *response, buf []byte) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), 2*cap(buf))
			copy(grown, buf)
			buf = grown
		}
		m, err := r.Body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// copyTo writes the body to w as it arrives. When w is a pipe (`| jq`,
// a script's $(...)), the bytes go from the socket to it inside the
// kernel (splice): the client neither copies them nor faults in a page
// for them, which at 10,000 workers is most of what `tend status -o json`
// costs. Any other w gets them through one small buffer. Only a pipe:
// splicing into a terminal, or into a file opened to append, fails after
// the bytes left the socket, and they would be lost. A body that ends
// before its length is io.ErrUnexpectedEOF, after the rest was written.
//
// A reader of w that went away is ErrReaderGone: only w can return EPIPE
// here (a read of the socket never does), whereas the same errno from the
// request's write means the daemon closed the connection.
func (r *response) copyTo(w io.Writer) error {
	n, err := r.copyBody(w)
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("the daemon's answer was cut short after %d of %d bytes (the output is not whole): %w", n, r.Length, err)
	case errors.Is(err, syscall.EPIPE):
		return fmt.Errorf("%w: %w", ErrReaderGone, err)
	}
	return err
}

// ErrReaderGone says whoever read what the client wrote went away (`| head`).
var ErrReaderGone = errors.New("the reader of the output went away")

func (r *response) copyBody(w io.Writer) (int64, error) {
	b := r.Body.(*respBody)
	s, sized := b.r.(*sizedReader)
	if sized {
		br, buffered := s.r.(*bufio.Reader)
		if f, ok := w.(*os.File); ok && buffered && isPipe(f) {
			// What the head's reader holds first, then the socket.
			head, _ := br.Peek(int(min(int64(br.Buffered()), s.left)))
			if _, err := f.Write(head); err != nil {
				return 0, err
			}
			s.left -= int64(len(head))
			lr := &io.LimitedReader{R: b.conn, N: s.left}
			n, err := f.ReadFrom(lr)
			s.left = lr.N
			if err == nil && s.left > 0 {
				err = io.ErrUnexpectedEOF
			}
			if err != nil && b.ctx.Err() != nil {
				err = b.ctx.Err()
			}
			return int64(len(head)) + n, err
		}
	}
	return io.CopyBuffer(onlyWriter{w}, b, make([]byte, 32<<10))
}

// onlyWriter hides a writer's ReadFrom, so io.CopyBuffer uses the buffer
// it is given.
type onlyWriter struct{ io.Writer }

// isPipe reports whether f is a FIFO.
func isPipe(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeNamedPipe != 0
}

// errBadResponse says the other end of the socket did not answer HTTP.
var errBadResponse = errors.New("the control socket's answer is not HTTP")

// roundTrip sends one request on conn and reads the response's head. The
// body is the caller's to read and close; ctx ending closes conn, which
// ends a read in progress.
func roundTrip(ctx context.Context, conn net.Conn, method, target string, body []byte) (*response, error) {
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	fail := func(err error) (*response, error) {
		stop()
		conn.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	var req strings.Builder
	fmt.Fprintf(&req, "%s %s HTTP/1.1\r\nHost: tend\r\nUser-Agent: tend\r\nConnection: close\r\n", method, target)
	if body != nil {
		fmt.Fprintf(&req, "Content-Type: application/json\r\nContent-Length: %d\r\n", len(body))
	}
	req.WriteString("\r\n")
	if _, err := io.WriteString(conn, req.String()+string(body)); err != nil {
		return fail(err)
	}
	br := bufio.NewReaderSize(conn, 4<<10)
	line, err := readLine(br)
	if err != nil {
		return fail(err)
	}
	// HTTP/1.1 200 OK
	proto, rest, _ := strings.Cut(line, " ")
	code, _, _ := strings.Cut(rest, " ")
	status, err := strconv.Atoi(code)
	if !strings.HasPrefix(proto, "HTTP/1.") || err != nil || len(code) != 3 {
		return fail(fmt.Errorf("%w: %q", errBadResponse, trim(line)))
	}
	length, chunked := int64(-1), false
	header := map[string]string{}
	for n := 0; ; n++ {
		line, err := readLine(br)
		if err != nil {
			return fail(err)
		}
		if line == "" {
			break
		}
		if n == maxHeaderLines {
			return fail(fmt.Errorf("%w: more than %d header lines", errBadResponse, maxHeaderLines))
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return fail(fmt.Errorf("%w: header line %q", errBadResponse, trim(line)))
		}
		v = strings.TrimSpace(v)
		header[strings.ToLower(k)] = v
		switch {
		case strings.EqualFold(k, "Content-Length"):
			if length, err = strconv.ParseInt(v, 10, 64); err != nil || length < 0 {
				return fail(fmt.Errorf("%w: Content-Length %q", errBadResponse, trim(v)))
			}
		case strings.EqualFold(k, "Transfer-Encoding"):
			if !strings.EqualFold(v, "chunked") {
				return fail(fmt.Errorf("%w: Transfer-Encoding %q", errBadResponse, trim(v)))
			}
			chunked = true
		}
	}
	var r io.Reader = br
	switch {
	case chunked:
		r = &chunkedReader{br: br}
	case length >= 0:
		r = &sizedReader{r: br, left: length}
	}
	return &response{StatusCode: status, Length: length, header: header, Body: &respBody{r: r, conn: conn, stop: stop, ctx: ctx}}, nil
}

// readLine reads one CRLF-ended line of a response's head, without it.
func readLine(br *bufio.Reader) (string, error) {
	var line []byte
	for {
		b, err := br.ReadSlice('\n')
		line = append(line, b...)
		if len(line) > maxHeaderLine {
			return "", fmt.Errorf("%w: a line longer than %d bytes", errBadResponse, maxHeaderLine)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF {
			return "", io.ErrUnexpectedEOF
		}
		if err != nil {
			return "", err
		}
		return strings.TrimSuffix(strings.TrimSuffix(string(line), "\n"), "\r"), nil
	}
}

// trim bounds what an error quotes of a bad answer.
func trim(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// respBody is a response's body: reading it reads the connection, closing it
// closes the connection.
type respBody struct {
	r    io.Reader
	conn net.Conn
	stop func() bool
	ctx  context.Context
}

func (b *respBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF && b.ctx.Err() != nil {
		err = b.ctx.Err()
	}
	return n, err
}

func (b *respBody) Close() error {
	b.stop()
	return b.conn.Close()
}

// sizedReader reads a body of a known length: an end before it is
// io.ErrUnexpectedEOF, so a body the other end cut short (a daemon killed
// while it answered) is never passed on as the whole answer.
type sizedReader struct {
	r    io.Reader
	left int64
}

func (s *sizedReader) Read(p []byte) (int, error) {
	if s.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > s.left {
		p = p[:s.left]
	}
	n, err := s.r.Read(p)
	s.left -= int64(n)
	if err == io.EOF && s.left > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// chunkedReader reads a body sent with Transfer-Encoding: chunked.
type chunkedReader struct {
	br   *bufio.Reader
	left int64 // of the current chunk
	done bool
}

func (c *chunkedReader) Read(p []byte) (int, error) {
	if c.done {
		return 0, io.EOF
	}
	if c.left == 0 {
		line, err := readLine(c.br)
		if err != nil {
			return 0, err
		}
		size, _, _ := strings.Cut(line, ";") // chunk extensions are ignored
		n, err := strconv.ParseInt(strings.TrimSpace(size), 16, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%w: chunk size %q", errBadResponse, trim(line))
		}
		if n == 0 {
			// The trailer, if any, up to the empty line.
			for i := 0; ; i++ {
				line, err := readLine(c.br)
				if err != nil {
					return 0, err
				}
				if line == "" {
					break
				}
				if i == maxHeaderLines {
					return 0, fmt.Errorf("%w: more than %d trailer lines", errBadResponse, maxHeaderLines)
				}
			}
			c.done = true
			return 0, io.EOF
		}
		c.left = n
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.br.Read(p)
	c.left -= int64(n)
	if c.left == 0 && err == nil {
		// Each chunk ends with CRLF.
		if line, lerr := readLine(c.br); lerr != nil {
			err = lerr
		} else if line != "" {
			err = fmt.Errorf("%w: a chunk longer than its size", errBadResponse)
		}
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}
