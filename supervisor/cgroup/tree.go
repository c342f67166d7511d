package cgroup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Names in the daemon's part of the hierarchy.
const (
	subtreePrefix = "tend-"      // <base>/tend-<instance>: one daemon's subtree
	leafName      = "supervisor" // <subtree>/supervisor: the daemon, when it had to move
)

// DefaultControllers are the controllers Open enables for workers when
// Options.Controllers is nil.
var DefaultControllers = []string{"memory", "cpu", "pids"}

// Mode says how the daemon came to own its part of the hierarchy.
type Mode int

const (
	// ModeRoot: the daemon sits in the root of the whole hierarchy (a
	// hybrid host whose v2 hierarchy carries no controllers, a host
	// without a cgroup manager). The subtree goes right under the root.
	ModeRoot Mode = iota + 1
	// ModeNamespace: the daemon sits in the root of its own cgroup
	// namespace (a container).
	ModeNamespace
	// ModeDelegated: the daemon's cgroup was delegated to it (systemd
	// Delegate=yes). The subtree goes under that cgroup.
	ModeDelegated
)

func (m Mode) String() string {
	switch m {
	case ModeRoot:
		return "hierarchy root"
	case ModeNamespace:
		return "cgroup namespace root"
	case ModeDelegated:
		return "delegated"
	default:
		return "mode " + strconv.Itoa(int(m))
	}
}

// Options configures Open. The zero value is usable.
type Options struct {
	// Delegated asserts that the daemon's own cgroup is its to manage,
	// for managers that do not mark delegation (systemd before 251 sets
	// no trusted.delegate xattr). Without it such a cgroup is refused as
	// NotDelegated.
	Delegated bool
	// Controllers to enable for workers where the parent offers them.
	// nil means DefaultControllers; an empty slice enables none.
	Controllers []string
	// OnOOM, if set, is told when the kernel's OOM killer kills a
	// process in a group (memory controller only). It is called from the
	// Tree's watch goroutine and must not block.
	OnOOM func(OOM)

	proc string // procfs mount, for tests; "" means /proc
}

func (o Options) procRoot() string {
	if o.proc != "" {
		return o.proc
	}
	return "/proc"
}

// OOM reports that the kernel killed processes of a group for lack of
// memory. The victim's pid is not known: memory.events counts kills and
// names no one. If the leader's wait status is SIGKILL at about that time,
// the leader was most likely the victim.
type OOM struct {
	Worker      string
	Incarnation uint64
	Kills       uint64 // memory.events oom_kill so far
	New         uint64 // kills since the last report
}

// Info describes a Tree for status output.
type Info struct {
	Mount string // the cgroup2 mount point
	Dir   string // the subtree's directory
	Path  string // the subtree as /proc/PID/cgroup shows it
	Mode  Mode
	// Kill is true when groups are killed through cgroup.kill; false
	// means freeze, SIGKILL every member, thaw (kernels 5.7 to 5.13).
	Kill bool
	// Controllers are enabled for every group; Missing says, for each
	// wanted controller that is not, why.
	Controllers []string
	Missing     map[string]string
	// Leaf is the directory the daemon moved itself into so that
	// controllers could be enabled ("" if it did not move).
	Leaf string
}

func (i Info) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "cgroup v2 subtree %s (%s)", i.Dir, i.Mode)
	if i.Kill {
		b.WriteString(", kill by cgroup.kill")
	} else {
		b.WriteString(", kill by freezer")
	}
	if len(i.Controllers) > 0 {
		b.WriteString(", controllers: " + strings.Join(i.Controllers, " "))
	} else {
		b.WriteString(", no controllers")
	}
	for _, c := range slices.Sorted(mapKeys(i.Missing)) {
		fmt.Fprintf(&b, "; %s: %s", c, i.Missing[c])
	}
	return b.String()
}

func mapKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// Tree is one daemon's subtree: <base>/tend-<instance>, holding one cgroup
// per worker incarnation, named <worker>.<incarnation>. Its methods are
// safe for concurrent use.
type Tree struct {
	info     Info
	dir      string // = info.Dir
	path     string // = info.Path
	kill     bool   // cgroup.kill exists; tests clear it to exercise the freezer
	enabled  map[string]bool
	onOOM    func(OOM)
	procRoot string

	// mu guards groups, closed, watch and watchErr. Nothing under it
	// touches the hierarchy; the watcher is started under it, once.
	mu       sync.Mutex
	groups   map[string]*Group // live handles by directory name
	closed   bool
	watch    *watcher // one goroutine for every group's events; nil until first use
	watchErr error
}

// InstanceID turns something that names a daemon stably (the path of its
// event log) into a short name for its subtree: the first 12 hex digits of
// its SHA-256.
func InstanceID(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:6])
}

// checkInstance allows what InstanceID produces and short readable names:
// 1-64 of A-Z a-z 0-9 _ -.
func checkInstance(s string) error {
	if s == "" || len(s) > 64 {
		return fmt.Errorf("%w: instance %q (use 1-64 of A-Z a-z 0-9 _ -)", ErrBadName, s)
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return fmt.Errorf("%w: instance %q (use 1-64 of A-Z a-z 0-9 _ -)", ErrBadName, s)
		}
	}
	return nil
}

// groupName is the directory of an incarnation: "<worker>.<inc>". A
// worker name may hold dots: the incarnation is after the last one.
func groupName(worker string, inc uint64) (string, error) {
	if worker == "" || len(worker) > 200 || worker == "." || worker == ".." || inc == 0 {
		return "", fmt.Errorf("%w: worker %q incarnation %d", ErrBadName, worker, inc)
	}
	for _, c := range []byte(worker) {
		if c == '/' || c < ' ' || c == 0x7f {
			return "", fmt.Errorf("%w: worker %q", ErrBadName, worker)
		}
	}
	return worker + "." + strconv.FormatUint(inc, 10), nil
}

// hookGroupName is the directory of a hook run for an incarnation:
// "<worker>.<inc>.<kind>". The kind has no digit, so no hook's name is an
// incarnation's, and recovery finds hooks by the kernel's membership, not
// by what their environment says.
func hookGroupName(worker string, inc uint64, kind string) (string, error) {
	name, err := groupName(worker, inc)
	if err != nil {
		return "", err
	}
	if !hookKind(kind) {
		return "", fmt.Errorf("%w: hook %q of worker %q", ErrBadName, kind, worker)
	}
	return name + "." + kind, nil
}

// hookKind allows what a hook kind is named with: 1-32 of a-z and _.
func hookKind(kind string) bool {
	if kind == "" || len(kind) > 32 {
		return false
	}
	for _, c := range []byte(kind) {
		if !(c >= 'a' && c <= 'z' || c == '_') {
			return false
		}
	}
	return true
}

// parseHookGroupName undoes hookGroupName; ok is false for anything else.
func parseHookGroupName(name string) (worker string, inc uint64, kind string, ok bool) {
	i := strings.LastIndexByte(name, '.')
	if i <= 0 || !hookKind(name[i+1:]) {
		return "", 0, "", false
	}
	worker, inc, ok = parseGroupName(name[:i])
	return worker, inc, name[i+1:], ok
}

// ours reports whether a directory of the subtree is a group of a worker's
// incarnation or of a hook: what the subtree's own listing and removal
// look at.
func ours(name string) bool {
	if _, _, ok := parseGroupName(name); ok {
		return true
	}
	_, _, _, ok := parseHookGroupName(name)
	return ok
}

// parseGroupName undoes groupName; ok is false for anything else (the
// daemon's leaf, or a directory someone else made).
func parseGroupName(name string) (worker string, inc uint64, ok bool) {
	i := strings.LastIndexByte(name, '.')
	if i <= 0 || i == len(name)-1 {
		return "", 0, false
	}
	inc, err := strconv.ParseUint(name[i+1:], 10, 64)
	if err != nil || inc == 0 || name[i+1] == '0' || name[i+1] == '+' {
		return "", 0, false
	}
	return name[:i], inc, true
}

// Open finds the daemon's place in the cgroup v2 hierarchy and makes (or
// reopens) its subtree, <base>/tend-<instance>, mode 0755. The base is the
// hierarchy root (ModeRoot), the root of the daemon's cgroup namespace
// (ModeNamespace) or the daemon's own delegated cgroup (ModeDelegated).
//
// Controllers in opts.Controllers are enabled for workers where the base
// offers them. Where enabling them in the base needs the base to hold no
// process (the kernel's "no internal processes" rule), the daemon first
// moves itself into <subtree>/supervisor. A controller that cannot be
// enabled is noted in Info().Missing with the reason; it is not an error.
//
// When cgroups cannot be used, the error is an *UnavailableError
// (errors.Is(err, ErrUnavailable)) whose text says why, for the operator.
// Other errors are bad arguments (ErrBadName).
//
// Several daemons may use one host, each with its own instance: a Tree
// touches nothing outside its subtree except enabling controllers in the
// base's cgroup.subtree_control.
func Open(instance string, opts Options) (*Tree, error) {
	if err := checkInstance(instance); err != nil {
		return nil, err
	}
	w, err := find(opts)
	if err != nil {
		return nil, err
	}
	name := subtreePrefix + instance
	dir := path.Join(w.baseDir, name)
	err = os.Mkdir(dir, 0o755)
	made := err == nil
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, &UnavailableError{Reason: NotWritable, Path: dir, Err: err}
	}
	kill, err := checkKernel(dir)
	if err != nil {
		if made {
			_ = unix.Rmdir(dir)
		}
		return nil, err
	}
	t := &Tree{
		info: Info{
			Mount: w.mount.Point, Dir: dir, Path: path.Join(w.base, name), Mode: w.mode, Kill: kill,
			Missing: map[string]string{},
		},
		dir:      dir,
		path:     path.Join(w.base, name),
		kill:     kill,
		enabled:  map[string]bool{},
		onOOM:    opts.OnOOM,
		procRoot: opts.procRoot(),
		groups:   map[string]*Group{},
	}
	want := opts.Controllers
	if want == nil {
		want = DefaultControllers
	}
	t.enable(w, want)
	for c := range t.enabled {
		t.info.Controllers = append(t.info.Controllers, c)
	}
	slices.Sort(t.info.Controllers)
	return t, nil
}

// Probe says, changing nothing, whether Open would give this process a
// subtree for instance: where it would be, how the base was obtained, and
// which wanted controllers the base offers (Missing says why the others
// are not). It is for `tend check`, which must not make directories or
// move itself. It cannot see everything Open meets: a controller the base
// offers may still be refused when Open enables it (other processes in the
// base), and a base that looks writable may refuse the mkdir (a security
// module); the daemon's own start says so then.
func Probe(instance string, opts Options) (Info, error) {
	if err := checkInstance(instance); err != nil {
		return Info{}, err
	}
	w, err := find(opts)
	if err != nil {
		return Info{}, err
	}
	name := subtreePrefix + instance
	info := Info{Mount: w.mount.Point, Dir: path.Join(w.baseDir, name), Path: path.Join(w.base, name), Mode: w.mode,
		Missing: map[string]string{}}
	if err := unix.Access(w.baseDir, unix.W_OK); err != nil {
		return Info{}, &UnavailableError{Reason: NotWritable, Path: w.baseDir, Err: err}
	}
	rel := unameRelease()
	if !kernelAtLeast(rel, 5, 7) {
		return Info{}, &UnavailableError{Reason: OldKernel, Path: "kernel " + rel,
			Err: errors.New("clone3 with CLONE_INTO_CGROUP needs Linux 5.7")}
	}
	if err := probeClone3(); err != nil {
		return Info{}, &UnavailableError{Reason: Clone3Blocked, Err: fmt.Errorf("clone3: %w", err),
			Hint: "allow clone3 in the container's seccomp profile"}
	}
	// The root has neither file; a kernel with cgroup.kill has it in every
	// other cgroup.
	info.Kill = kernelAtLeast(rel, 5, 14)
	want := opts.Controllers
	if want == nil {
		want = DefaultControllers
	}
	avail, err := fields(path.Join(w.baseDir, "cgroup.controllers"))
	for _, c := range want {
		switch {
		case err != nil:
			info.Missing[c] = "cannot read " + w.baseDir + "/cgroup.controllers: " + err.Error()
		case !avail[c]:
			info.Missing[c] = "not offered to " + w.base + " (bound to a cgroup v1 hierarchy, or not delegated by the parent)"
		default:
			info.Controllers = append(info.Controllers, c)
		}
	}
	slices.Sort(info.Controllers)
	return info, nil
}

// enable turns on the wanted controllers for the subtree's children, noting
// why each one that stays off does.
func (t *Tree) enable(w where, want []string) {
	avail, err := fields(path.Join(w.baseDir, "cgroup.controllers"))
	if err != nil {
		for _, c := range want {
			t.info.Missing[c] = "cannot read " + w.baseDir + "/cgroup.controllers: " + err.Error()
		}
		return
	}
	on, _ := fields(path.Join(w.baseDir, "cgroup.subtree_control"))
	var inBase []string
	for _, c := range want {
		switch {
		case !avail[c]:
			t.info.Missing[c] = "not offered to " + w.base + " (bound to a cgroup v1 hierarchy, or not delegated by the parent)"
		case !on[c]:
			inBase = append(inBase, c)
		}
	}
	if len(inBase) > 0 {
		moved := false
		for _, c := range inBase {
			err := writeFile(path.Join(w.baseDir, "cgroup.subtree_control"), "+"+c)
			if errors.Is(err, unix.EBUSY) && !moved && !w.inLeaf && w.mode != ModeRoot {
				// The base holds processes: the daemon, at least. Move
				// it into a leaf of its subtree and try again.
				if merr := t.moveSelf(); merr != nil {
					t.info.Missing[c] = "cannot move the daemon out of " + w.base + ": " + merr.Error()
					continue
				}
				moved = true
				err = writeFile(path.Join(w.baseDir, "cgroup.subtree_control"), "+"+c)
			}
			switch {
			case errors.Is(err, unix.EBUSY):
				t.info.Missing[c] = "other processes live in " + w.base + " (cgroup v2 allows controllers only below cgroups without processes)"
			case err != nil:
				t.info.Missing[c] = "cannot enable in " + w.base + ": " + err.Error()
			}
		}
		on, _ = fields(path.Join(w.baseDir, "cgroup.subtree_control"))
	}
	for _, c := range want {
		if !avail[c] || !on[c] {
			if _, noted := t.info.Missing[c]; !noted {
				t.info.Missing[c] = "not enabled in " + w.base
			}
			continue
		}
		if err := writeFile(path.Join(t.dir, "cgroup.subtree_control"), "+"+c); err != nil {
			t.info.Missing[c] = "cannot enable in " + t.path + ": " + err.Error()
			continue
		}
		t.enabled[c] = true
	}
}

// moveSelf moves the daemon (every thread) into <subtree>/supervisor.
func (t *Tree) moveSelf() error {
	leaf := path.Join(t.dir, leafName)
	if err := os.Mkdir(leaf, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	if err := writeFile(path.Join(leaf, "cgroup.procs"), strconv.Itoa(os.Getpid())); err != nil {
		return err
	}
	t.info.Leaf = leaf
	return nil
}

// Info describes the subtree: where it is, how it was obtained, and which
// controllers workers get.
func (t *Tree) Info() Info {
	i := t.info
	i.Controllers = slices.Clone(i.Controllers)
	i.Missing = make(map[string]string, len(t.info.Missing))
	for k, v := range t.info.Missing {
		i.Missing[k] = v
	}
	return i
}

// CPUTime is the subtree's cpu.stat usage_usec: the CPU time of every
// process in it, each incarnation's, the dead included, and the daemon's
// own when it lives in the subtree (Info.Leaf). It stands still only while
// no process in the subtree runs.
func (t *Tree) CPUTime() (time.Duration, error) {
	d, err := cpuTime(t.dir)
	if err != nil {
		return 0, fmt.Errorf("cgroup: read %s: %w", path.Join(t.dir, "cpu.stat"), err)
	}
	return d, nil
}

// Enabled reports whether controller c ("memory", "cpu", "pids") is
// enabled for the groups.
func (t *Tree) Enabled(c string) bool { return t.enabled[c] }

// Close stops the watch goroutine. It removes nothing and signals no one:
// workers outlive the daemon, and a later daemon finds their groups with
// List. Empty channels not yet closed stay open for good.
func (t *Tree) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	w := t.watch
	t.watch = nil
	t.mu.Unlock()
	if w != nil {
		w.close()
	}
	return nil
}

// New makes incarnation inc's cgroup for worker (or takes the one
// Prepare made) and opens it for the spawn: pass g.FD() as
// syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: g.FD()}, then call
// g.CloseFD(). The child is born inside the group (clone3 with
// CLONE_INTO_CGROUP): there is no moment when it runs outside.
//
// A directory left by an earlier daemon for the same incarnation is reused
// if it is empty; if processes live in it, New fails with ErrPopulated
// (the caller adopts or kills them first).
//
// Call New right before the spawn: it prepares the group's first
// announcement on cgroup.events so that it does not slow the spawn, and
// that lasts 20 ms (see preannounce).
func (t *Tree) New(worker string, inc uint64) (*Group, error) {
	return t.newGroup(worker, inc, "")
}

// NewHook is New for a hook of kind that runs for incarnation inc: a
// group of its own beside the incarnation's, so that everything the hook
// starts is killed with it, and found by a later daemon whatever its
// environment says. A group left by an earlier daemon's hook must be
// ended first (ErrPopulated).
func (t *Tree) NewHook(worker string, inc uint64, kind string) (*Group, error) {
	if kind == "" {
		return nil, fmt.Errorf("%w: a hook of worker %q with no kind", ErrBadName, worker)
	}
	return t.newGroup(worker, inc, kind)
}

func (t *Tree) newGroup(worker string, inc uint64, hook string) (*Group, error) {
	g, earlier, err := t.group(worker, inc, hook, true)
	if err != nil {
		return nil, err
	}
	// A handle taken earlier (Prepare, Adopt) may have members by now;
	// a directory made just now has none.
	if earlier {
		pop, err := populated(g.dir)
		if err == nil && pop {
			err = ErrPopulated
		}
		if err != nil {
			return nil, g.err("create", g.dir, err)
		}
	}
	if err := preannounce(g.dir); err != nil {
		return nil, g.err("create", path.Join(g.dir, "cgroup.freeze"), err)
	}
	if err := g.openFD(); err != nil {
		return nil, err
	}
	return g, nil
}

// Prepare makes incarnation inc's cgroup ahead of its spawn, so New only
// has to open it: call it for incarnation n+1 once n is running. A group
// prepared for an incarnation that never comes is an empty leftover that
// RemoveEmpty (or Group.Remove) deletes.
func (t *Tree) Prepare(worker string, inc uint64) error {
	_, _, err := t.group(worker, inc, "", true)
	return err
}

// Adopt returns the existing group of an incarnation, for a daemon that
// restarted and finds its workers still running. The error wraps
// fs.ErrNotExist when there is no such group.
func (t *Tree) Adopt(worker string, inc uint64) (*Group, error) {
	g, _, err := t.group(worker, inc, "", false)
	return g, err
}

// AdoptHook is Adopt for the group of a hook an earlier daemon ran
// (Hooks lists them).
func (t *Tree) AdoptHook(worker string, inc uint64, kind string) (*Group, error) {
	if kind == "" {
		return nil, fmt.Errorf("%w: a hook of worker %q with no kind", ErrBadName, worker)
	}
	g, _, err := t.group(worker, inc, kind, false)
	return g, err
}

// group returns the handle of an incarnation's group, creating the
// directory when create is set. Handles are unique per directory, so
// every caller shares one watch and one fd. earlier says the handle
// existed before the call (made by Prepare, Adopt or a concurrent New).
func (t *Tree) group(worker string, inc uint64, hook string, create bool) (g *Group, earlier bool, err error) {
	var name string
	if hook == "" {
		name, err = groupName(worker, inc)
	} else {
		name, err = hookGroupName(worker, inc, hook)
	}
	if err != nil {
		return nil, false, err
	}
	t.mu.Lock()
	closed := t.closed
	g = t.groups[name]
	t.mu.Unlock()
	if closed {
		return nil, false, ErrClosed
	}
	if g != nil {
		return g, true, nil
	}
	dir := path.Join(t.dir, name)
	fail := func(op string, err error) (*Group, bool, error) {
		return nil, false, &GroupError{Op: op, Worker: worker, Incarnation: inc, Path: dir, Err: err}
	}
	if create {
		err := unix.Mkdir(dir, 0o755)
		switch {
		case errors.Is(err, unix.EEXIST):
			// Left by an earlier daemon: reusable only if nobody lives there.
			pop, perr := populated(dir)
			if perr != nil {
				return fail("create", perr)
			}
			if pop {
				return fail("create", ErrPopulated)
			}
		case err != nil:
			return fail("create", err)
		}
	}
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			err = fs.ErrNotExist
		}
		return fail("open", err)
	}
	g = &Group{tree: t, worker: worker, inc: inc, hook: hook, name: name, dir: dir, id: st.Ino, fd: -1}
	t.mu.Lock()
	other := t.groups[name]
	if other == nil {
		t.groups[name] = g
	}
	t.mu.Unlock()
	if other != nil {
		return other, true, nil // a concurrent caller won
	}
	if t.onOOM != nil && t.enabled["memory"] && hook == "" {
		// A hook's kills by the OOM killer are not its incarnation's.
		t.watchOOM(g)
	}
	return g, false, nil
}

// forget drops a removed group's handle.
func (t *Tree) forget(g *Group) {
	t.mu.Lock()
	if t.groups[g.name] == g {
		delete(t.groups, g.name)
	}
	t.mu.Unlock()
}

// Found is one incarnation's group, or one hook's, present in the subtree.
type Found struct {
	Worker      string
	Incarnation uint64
	Hook        string // the hook's kind; "" for the incarnation's own group
	Populated   bool
	Procs       []int // members when listed, in cgroup.procs order
	// Mine says this Tree made or took the group (a hook of this daemon's
	// own), rather than an earlier daemon.
	Mine bool
}

// List reports every incarnation group in the subtree, in directory order,
// with its members: after a daemon crash, the supervisor adopts those of
// incarnations its log knows and kills and removes the rest. A group that
// vanishes while listed is left out.
func (t *Tree) List() ([]Found, error) {
	return t.list(false)
}

// Hooks reports every hook group in the subtree, as List does: after a
// daemon crash, the hooks it ran are killed before anything runs them
// again.
func (t *Tree) Hooks() ([]Found, error) {
	return t.list(true)
}

func (t *Tree) list(hooks bool) ([]Found, error) {
	ents, err := os.ReadDir(t.dir)
	if err != nil {
		return nil, fmt.Errorf("cgroup: list %s: %w", t.dir, err)
	}
	var out []Found
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		var f Found
		var ok bool
		if hooks {
			f.Worker, f.Incarnation, f.Hook, ok = parseHookGroupName(e.Name())
		} else {
			f.Worker, f.Incarnation, ok = parseGroupName(e.Name())
		}
		if !ok {
			continue
		}
		dir := path.Join(t.dir, e.Name())
		pop, err := populated(dir)
		if err != nil {
			continue
		}
		procs, err := readProcs(dir, nil)
		if err != nil {
			continue
		}
		f.Populated, f.Procs = pop, procs
		t.mu.Lock()
		_, f.Mine = t.groups[e.Name()]
		t.mu.Unlock()
		out = append(out, f)
	}
	return out, nil
}

// RemoveEmpty deletes every unpopulated incarnation group that no live
// handle of this Tree refers to (groups New or Prepare made and not yet
// removed are kept), and reports how many it removed.
func (t *Tree) RemoveEmpty() (int, error) {
	ents, err := os.ReadDir(t.dir)
	if err != nil {
		return 0, fmt.Errorf("cgroup: list %s: %w", t.dir, err)
	}
	n := 0
	var errs []error
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		if !ours(e.Name()) {
			continue
		}
		t.mu.Lock()
		_, live := t.groups[e.Name()]
		t.mu.Unlock()
		if live {
			continue
		}
		err := removeDir(path.Join(t.dir, e.Name()))
		switch {
		case err == nil:
			n++
		case errors.Is(err, unix.EBUSY), errors.Is(err, unix.ENOENT):
		default:
			errs = append(errs, fmt.Errorf("cgroup: remove %s: %w", e.Name(), err))
		}
	}
	return n, errors.Join(errs...)
}

// Remove deletes the subtree once nothing lives in it: every incarnation
// group, then the subtree itself. It kills nothing: groups with live
// processes are left, and it fails with ErrPopulated. A daemon that has
// stopped every worker calls it on its way out, so that a host running
// many short-lived daemons (tests) keeps no empty directories. While the
// daemon sits in its own leaf (it had to move to enable controllers) the
// subtree cannot go; Remove then deletes the groups and leaves the rest.
func (t *Tree) Remove() error {
	ents, err := os.ReadDir(t.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cgroup: remove %s: %w", t.dir, err)
	}
	var errs []error
	busy := false
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		if !ours(e.Name()) {
			continue
		}
		err := removeDir(path.Join(t.dir, e.Name()))
		switch {
		case err == nil, errors.Is(err, unix.ENOENT):
			t.mu.Lock()
			g := t.groups[e.Name()]
			delete(t.groups, e.Name())
			t.mu.Unlock()
			if g != nil {
				g.CloseFD()
			}
		case errors.Is(err, unix.EBUSY):
			busy = true
		default:
			errs = append(errs, fmt.Errorf("cgroup: remove %s: %w", e.Name(), err))
		}
	}
	if busy {
		return errors.Join(append(errs, fmt.Errorf("cgroup: remove %s: %w", t.dir, ErrPopulated))...)
	}
	if err := unix.Rmdir(path.Join(t.dir, leafName)); err != nil && !errors.Is(err, unix.ENOENT) {
		return errors.Join(errs...) // the daemon lives in its leaf
	}
	if err := unix.Rmdir(t.dir); err != nil && !errors.Is(err, unix.ENOENT) {
		errs = append(errs, fmt.Errorf("cgroup: remove %s: %w", t.dir, err))
	}
	return errors.Join(errs...)
}

// Purge kills every process in the subtree, waits (until ctx is done) for
// them to die, and removes every group and then the subtree itself, unless
// the daemon lives in it. It is for uninstalling and for tests, never for a
// normal daemon exit: workers outlive the daemon.
func (t *Tree) Purge(ctx context.Context) error {
	t.mu.Lock()
	handles := make([]*Group, 0, len(t.groups))
	for _, g := range t.groups {
		handles = append(handles, g)
	}
	t.mu.Unlock()
	var errs []error
	for _, g := range handles {
		g.CloseFD()
	}
	for {
		found, err := t.List()
		if err == nil {
			var hooks []Found
			hooks, err = t.Hooks()
			found = append(found, hooks...)
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		busy := false
		for _, f := range found {
			g, _, err := t.group(f.Worker, f.Incarnation, f.Hook, false)
			if err != nil {
				continue // removed meanwhile, or the Tree is closed
			}
			if f.Populated {
				busy = true
				if err := g.Kill(); err != nil {
					errs = append(errs, err)
				}
				continue
			}
			if err := g.Remove(); err != nil {
				busy = true
			}
		}
		if !busy {
			break
		}
		select {
		case <-ctx.Done():
			return errors.Join(append(errs, fmt.Errorf("cgroup: purge %s: %w", t.dir, ctx.Err()))...)
		case <-time.After(5 * time.Millisecond):
		}
	}
	for _, g := range handles {
		t.forget(g)
	}
	// The daemon's own leaf goes only if the daemon left it.
	if err := unix.Rmdir(path.Join(t.dir, leafName)); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EBUSY) {
		errs = append(errs, err)
	}
	if err := unix.Rmdir(t.dir); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EBUSY) {
		errs = append(errs, fmt.Errorf("cgroup: remove %s: %w", t.dir, err))
	}
	return errors.Join(errs...)
}

// removeDir removes a group directory and any cgroups made inside it (only
// a worker running as root can make those). It fails with EBUSY while a
// process lives in any of them.
func removeDir(dir string) error {
	err := unix.Rmdir(dir)
	if !errors.Is(err, unix.EBUSY) {
		return err
	}
	ents, rerr := os.ReadDir(dir)
	if rerr != nil {
		return err
	}
	nested := false
	for _, e := range ents {
		if e.IsDir() {
			nested = true
			if err := removeDir(path.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	if !nested {
		return err
	}
	return unix.Rmdir(dir)
}
