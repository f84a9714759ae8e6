package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is a child process (the daemon or the baseline server) whose
// standard output is scanned for the lines that say where it listens.
type proc struct {
	name    string
	cmd     *exec.Cmd
	started time.Time // just before the process was started
	stderr  *tail
	done    chan struct{} // closed when the process has exited
	waitErr error         // set before done is closed
	lines   chan string   // standard output, line by line
}

// procs is every child process of the run, so that all are stopped at the
// end, also after an error or an interrupt.
type procs struct {
	mu   sync.Mutex
	list []*proc
}

// start runs bin with args. Its standard output is delivered line by line
// to p.lines (dropped when nobody reads); its standard error is kept (the
// last 64 KiB) for error messages.
func (ps *procs) start(name, bin string, args ...string) (*proc, error) {
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = childAttr()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p := &proc{name: name, cmd: cmd, stderr: &tail{max: 64 << 10}, done: make(chan struct{}), lines: make(chan string, 16)}
	cmd.Stderr = p.stderr
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	ps.mu.Lock()
	ps.list = append(ps.list, p)
	ps.mu.Unlock()
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case p.lines <- sc.Text():
			default:
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// pid returns the process id.
func (p *proc) pid() int { return p.cmd.Process.Pid }

// await reads standard output until a line matches each of res, in any
// order, and returns the first submatch of each. It fails when the process
// exits first or when ctx ends.
func (p *proc) await(ctx context.Context, res ...*regexp.Regexp) ([]string, error) {
	got := make([]string, len(res))
	missing := len(res)
	for missing > 0 {
		select {
		case line := <-p.lines:
			for i, re := range res {
				if m := re.FindStringSubmatch(line); m != nil && got[i] == "" {
					got[i] = m[1]
					missing--
				}
			}
		case <-p.done:
			return nil, fmt.Errorf("%s exited before it was listening: %v\n%s", p.name, p.waitErr, p.stderr)
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for %s to listen: %w\n%s", p.name, ctx.Err(), p.stderr)
		}
	}
	return got, nil
}

// stop sends SIGTERM and waits up to 10 seconds before killing the
// process. It reports an unclean exit.
func (p *proc) stop() error {
	select {
	case <-p.done:
		return p.exitErr()
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.exitErr()
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop within 10s of SIGTERM; killed\n%s", p.name, p.stderr)
	}
}

func (p *proc) exitErr() error {
	if p.waitErr != nil {
		return fmt.Errorf("%s exited with %v\n%s", p.name, p.waitErr, p.stderr)
	}
	return nil
}

// stopAll stops every process still running, each at most 10 seconds
// after SIGTERM, and returns the first unclean exit.
func (ps *procs) stopAll() error {
	ps.mu.Lock()
	list := ps.list
	ps.list = nil
	ps.mu.Unlock()
	var first error
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, p := range list {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.stop(); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}

// forget removes p from the list stopAll stops, after p.stop.
func (ps *procs) forget(p *proc) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for i, q := range ps.list {
		if q == p {
			ps.list = append(ps.list[:i], ps.list[i+1:]...)
			return
		}
	}
}

// tail keeps the last max bytes written to it; it is safe for concurrent
// use.
type tail struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// memStatus is the resident memory of a process, from /proc/PID/status.
type memStatus struct {
	VmRSS, RssAnon, RssFile, VmHWM int64 // bytes
}

// readMem reads VmRSS, RssAnon, RssFile and VmHWM of process pid.
func readMem(pid int) (memStatus, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memStatus{}, fmt.Errorf("reading the memory of process %d: %w", pid, err)
	}
	var m memStatus
	fields := map[string]*int64{"VmRSS:": &m.VmRSS, "RssAnon:": &m.RssAnon, "RssFile:": &m.RssFile, "VmHWM:": &m.VmHWM}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[2] == "kB" {
			if dst, ok := fields[f[0]]; ok {
				kb, err := strconv.ParseInt(f[1], 10, 64)
				if err != nil {
					return memStatus{}, fmt.Errorf("process %d: %s %q: %w", pid, f[0], f[1], err)
				}
				*dst = kb << 10
			}
		}
	}
	if m.VmRSS == 0 {
		return memStatus{}, fmt.Errorf("process %d: no VmRSS in /proc/%d/status", pid, pid)
	}
	return m, nil
}

// awaitReady polls url every 2 ms until it answers 200, and returns how
// long after since that was. It gives up after bound.
func awaitReady(ctx context.Context, url string, since time.Time, bound time.Duration) (time.Duration, error) {
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(bound)
	var last string
	for time.Now().Before(deadline) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return 0, err
		}
		resp, err := c.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(since), nil
			}
			last = resp.Status
		} else {
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
	return 0, fmt.Errorf("%s did not answer 200 within %v (last: %s)", url, bound, last)
}

// metrics is a scrape of the daemon's /metrics in the Prometheus text
// format.
type metrics string

// scrape fetches the Prometheus text of url.
func scrape(ctx context.Context, url string) (metrics, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return "", fmt.Errorf("scraping %s: %w", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return "", fmt.Errorf("scraping %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("scraping %s: %s", url, resp.Status)
	}
	return metrics(b), nil
}

// sum adds the values of every sample of metric name whose labels contain
// each of labels (written as `key="value"`).
func (m metrics) sum(name string, labels ...string) float64 {
	var total float64
	for _, line := range strings.Split(string(m), "\n") {
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		var lbl string
		switch {
		case strings.HasPrefix(rest, "{"):
			end := strings.LastIndex(rest, "}")
			if end < 0 {
				continue
			}
			lbl, rest = rest[1:end], rest[end+1:]
		case strings.HasPrefix(rest, " "):
		default:
			continue // a longer name
		}
		match := true
		for _, l := range labels {
			if !strings.Contains(lbl, l) {
				match = false
			}
		}
		f := strings.Fields(rest)
		if !match || len(f) == 0 {
			continue
		}
		if v, err := strconv.ParseFloat(f[0], 64); err == nil {
			total += v
		}
	}
	return total
}

// userHZ is the unit of the CPU times of /proc/PID/stat (USER_HZ, 100 on
// every Linux architecture).
const userHZ = 100

// cpuTime returns the CPU time (user and system) process pid has used,
// from /proc/PID/stat, to 10 ms.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("reading the CPU time of process %d: %w", pid, err)
	}
	// The command name, in parentheses, may hold spaces: fields are
	// counted after its closing parenthesis (state is field 3).
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("process %d: /proc/%d/stat has %d fields after the name", pid, pid, len(f))
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("process %d: unreadable CPU times in /proc/%d/stat", pid, pid)
	}
	return time.Duration(utime+stime) * time.Second / userHZ, nil
}

// cpuMeter measures the CPU time a process spends during a load.
type cpuMeter struct {
	pid   int
	start time.Duration
	ok    bool
}

// startCPU starts measuring process pid; where /proc cannot be read the
// meter measures nothing.
func startCPU(pid int) cpuMeter {
	t, err := cpuTime(pid)
	return cpuMeter{pid: pid, start: t, ok: err == nil}
}

// perCall returns the CPU time used since startCPU divided by calls, 0
// when it could not be measured.
func (m cpuMeter) perCall(calls uint64) time.Duration {
	if !m.ok || calls == 0 {
		return 0
	}
	t, err := cpuTime(m.pid)
	if err != nil {
		return 0
	}
	return (t - m.start) / time.Duration(calls)
}
