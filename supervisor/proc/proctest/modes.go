package proctest

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// dispatch runs one mode and returns its exit status.
func dispatch(mode string, args []string) (int, error) {
	switch mode {
	case "exit":
		return exitCode(args, 0)
	case "sleep":
		return sleepThenExit(args, nil)
	case "crash-after":
		return sleepThenExit(args[:min(1, len(args))], args[min(1, len(args)):])
	case "hang":
		return hang()
	case "signals":
		return recordSignals()
	case "ignore-sigterm":
		signal.Ignore(syscall.SIGTERM)
		ready()
		return forever()
	case "spam-stdout":
		return spam(args)
	case "print-env":
		fmt.Print(strings.Join(os.Environ(), "\n") + "\n")
		return hang()
	case "print-fds":
		return printFDs()
	case "fork-grandchild":
		return forkGrandchild()
	case "escape":
		return escape()
	case "escape-mid":
		return escapeMid()
	case "escape-exit":
		return escapeExit(args)
	case "orphan-groups":
		return orphanGroups(args)
	case "spew-seq":
		return spewSeq(args)
	case "alloc":
		return alloc(args)
	case "spin":
		ready()
		for {
			runtime.Gosched()
		}
	case "notify":
		return notifyMode(args)
	case "fd-ready":
		return fdReady(args)
	case "http":
		return serve(args, http.StatusOK)
	case "http-fail":
		return serve(args, http.StatusServiceUnavailable)
	}
	return 0, fmt.Errorf("unknown mode")
}

// ready tells a waiting test that signal handlers are installed.
func ready() { fmt.Println("ready") }

// hang waits until SIGTERM and exits 0.
func hang() (int, error) {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM)
	ready()
	<-c
	return 0, nil
}

// recordSignals prints the name of every signal it gets, one a line, as
// it gets it (SIGTERM too), and exits 0 after SIGTERM.
func recordSignals() (int, error) {
	c := make(chan os.Signal, 16)
	signal.Notify(c, syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2,
		syscall.SIGWINCH, syscall.SIGALRM, syscall.SIGTERM, syscall.Signal(34), syscall.Signal(35))
	ready()
	for sig := range c {
		name := strings.TrimPrefix(unix.SignalName(sig.(syscall.Signal)), "SIG")
		if name == "" {
			name = strconv.Itoa(int(sig.(syscall.Signal)))
		}
		fmt.Println(name)
		if sig == syscall.SIGTERM {
			return 0, nil
		}
	}
	return 0, nil
}

// forever blocks without leaving the runtime nothing to run: a bare
// select{} with no other goroutine is reported as a deadlock.
func forever() (int, error) {
	for {
		time.Sleep(time.Hour)
	}
}

func exitCode(args []string, i int) (int, error) {
	if len(args) <= i {
		return 0, errors.New("missing exit code")
	}
	return strconv.Atoi(args[i])
}

// sleepThenExit serves "sleep DURATION" (code 0) and
// "crash-after DURATION CODE".
func sleepThenExit(dur, code []string) (int, error) {
	if len(dur) == 0 {
		return 0, errors.New("missing duration")
	}
	d, err := time.ParseDuration(dur[0])
	if err != nil {
		return 0, err
	}
	time.Sleep(d)
	if code == nil {
		return 0, nil
	}
	return exitCode(code, 0)
}

// spam writes numbered lines until a write fails; an optional argument is
// the pause between lines (default 1ms, so a forgotten spammer cannot fill
// the disk).
func spam(args []string) (int, error) {
	pause := time.Millisecond
	if len(args) > 0 {
		d, err := time.ParseDuration(args[0])
		if err != nil {
			return 0, err
		}
		pause = d
	}
	for i := 0; ; i++ {
		if _, err := fmt.Printf("spam %08d the quick brown fox jumps over the lazy dog\n", i); err != nil {
			return 0, err
		}
		if pause > 0 {
			time.Sleep(pause)
		}
	}
}

// forkGrandchild starts a hanging child in the same process group, prints
// its pid, and hangs.
func forkGrandchild() (int, error) {
	c := exec.Command(self(), helperArg, "hang")
	if err := c.Start(); err != nil {
		return 0, err
	}
	fmt.Println(c.Process.Pid)
	return hang()
}

// escape double-forks: escape-mid starts a hanging grandchild in a new
// session and exits, so the grandchild is orphaned and outside the group.
// escape prints the grandchild's pid and hangs.
func escape() (int, error) {
	out, err := exec.Command(self(), helperArg, "escape-mid").Output()
	if err != nil {
		return 0, err
	}
	fmt.Print(string(out))
	return hang()
}

// escapeExit leaves a grandchild outside the group, as escape does, then
// exits with the given code (default 1) instead of hanging.
func escapeExit(args []string) (int, error) {
	out, err := exec.Command(self(), helperArg, "escape-mid").Output()
	if err != nil {
		return 0, err
	}
	fmt.Print(string(out))
	if len(args) == 0 {
		return 1, nil
	}
	return exitCode(args, 0)
}

func escapeMid() (int, error) {
	c := exec.Command(self(), helperArg, "hang")
	c.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := c.Start(); err != nil {
		return 0, err
	}
	fmt.Println(c.Process.Pid)
	return 0, nil
}

// spewSeq writes numbered lines to stdout, RATE a second (0: as fast as it
// can), each "seq NNNNNNNNN" and padding, and on SIGTERM writes "last N"
// (the number of lines written) to stderr and exits 0: "spew-seq RATE".
// A write that fails ends it with status 3; SIGPIPE, if it is not
// ignored, ends it with that signal.
func spewSeq(args []string) (int, error) {
	rate := 0
	if len(args) > 0 {
		var err error
		if rate, err = strconv.Atoi(args[0]); err != nil {
			return 0, err
		}
	}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	const pad = " the quick brown fox jumps over the lazy dog"
	buf := make([]byte, 0, 64<<10)
	n := 0
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	for {
		select {
		case <-term:
			fmt.Fprintf(os.Stderr, "last %d\n", n)
			return 0, nil
		default:
		}
		want := n + 256
		if rate > 0 {
			<-tick.C
			want = int(time.Since(start).Seconds() * float64(rate))
		}
		buf = buf[:0]
		for n < want && len(buf) < 60<<10 {
			buf = fmt.Appendf(buf, "seq %09d%s\n", n, pad)
			n++
		}
		if _, err := os.Stdout.Write(buf); err != nil {
			return 3, nil
		}
	}
}

// orphanGroups starts N children that sleep for DELAY, each leading a
// process group of its own in the caller's session (as a shell with job
// control puts its background jobs), prints their pids and exits 0,
// leaving them orphans: "orphan-groups N DELAY".
func orphanGroups(args []string) (int, error) {
	if len(args) != 2 {
		return 0, errors.New("usage: orphan-groups N DELAY")
	}
	n, err := strconv.Atoi(args[0])
	if err != nil {
		return 0, err
	}
	for range n {
		c := exec.Command("sleep", args[1])
		c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := c.Start(); err != nil {
			return 0, err
		}
		fmt.Println(c.Process.Pid)
	}
	return 0, nil
}

// alloc touches MiB mebibytes so they count in RSS, then hangs.
func alloc(args []string) (int, error) {
	if len(args) == 0 {
		return 0, errors.New("missing MiB")
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad MiB %q", args[0])
	}
	b := make([]byte, n<<20)
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
	}
	code, err := hang()
	runtime.KeepAlive(b)
	return code, err
}

// serve answers /healthz with status until killed. It prints the bound
// address (useful with port 0) before "ready".
func serve(args []string, status int) (int, error) {
	if len(args) == 0 {
		return 0, errors.New("missing address")
	}
	ln, err := net.Listen("tcp", args[0])
	if err != nil {
		return 0, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(status)
	})
	fmt.Println(ln.Addr())
	ready()
	return 0, http.Serve(ln, mux)
}

// printFDs prints the descriptors the process inherited, one
// "fd -> target" line each, then "ready", and hangs. An inherited
// descriptor is one without close-on-exec: exec closed the others, and
// what the Go runtime opens for itself (the cgroup files it reads at
// start, the poller) has it set, so is left out.
func printFDs() (int, error) {
	dir, err := unix.Open("/proc/self/fd", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	var names []string
	buf := make([]byte, 8192)
	for {
		n, err := unix.ReadDirent(dir, buf)
		if err != nil {
			unix.Close(dir)
			return 0, err
		}
		if n == 0 {
			break
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
	var lines []string
	for _, name := range names {
		fd, err := strconv.Atoi(name)
		if err != nil || fd == dir {
			continue
		}
		if flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil || flags&unix.FD_CLOEXEC != 0 {
			continue
		}
		target, _ := os.Readlink("/proc/self/fd/" + name)
		lines = append(lines, fmt.Sprintf("%d -> %s", fd, target))
	}
	unix.Close(dir)
	fmt.Print(strings.Join(lines, "\n") + "\n")
	return hang()
}

// notifyMode speaks the systemd notification protocol: after DELAY it
// sends STATUS and READY=1 to $NOTIFY_SOCKET, then WATCHDOG=1 every PING
// for PINGS times (0: forever), then hangs without pinging.
//
//	notify DELAY [PING PINGS]
func notifyMode(args []string) (int, error) {
	if len(args) == 0 {
		return 0, errors.New("missing delay")
	}
	delay, err := time.ParseDuration(args[0])
	if err != nil {
		return 0, err
	}
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return 0, errors.New("no NOTIFY_SOCKET")
	}
	send := func(msg string) error {
		c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte(msg))
		return err
	}
	signal.Ignore(syscall.SIGHUP)
	time.Sleep(delay)
	if err := send("STATUS=serving\nREADY=1"); err != nil {
		return 0, err
	}
	if len(args) >= 3 {
		ping, err := time.ParseDuration(args[1])
		if err != nil {
			return 0, err
		}
		n, err := strconv.Atoi(args[2])
		if err != nil {
			return 0, err
		}
		for i := 0; n == 0 || i < n; i++ {
			time.Sleep(ping)
			if err := send("WATCHDOG=1"); err != nil {
				return 0, err
			}
		}
	}
	return hang()
}

// fdReady writes a newline to descriptor FD after DELAY (the s6 readiness
// protocol), then hangs.
//
//	fd-ready FD DELAY
func fdReady(args []string) (int, error) {
	if len(args) < 2 {
		return 0, errors.New("usage: fd-ready FD DELAY")
	}
	fd, err := strconv.Atoi(args[0])
	if err != nil {
		return 0, err
	}
	delay, err := time.ParseDuration(args[1])
	if err != nil {
		return 0, err
	}
	time.Sleep(delay)
	f := os.NewFile(uintptr(fd), "ready")
	if _, err := f.Write([]byte("\n")); err != nil {
		return 0, err
	}
	f.Close()
	return hang()
}
