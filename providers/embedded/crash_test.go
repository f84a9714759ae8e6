package embedded

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/secretbroker/secretbroker/providers"
)

// The crash test runs the test binary again as a child process
// (TestCrashHelper) that writes to a store and prints an acknowledgement
// after each write returns; the parent kills it with SIGKILL in mid-stream
// and checks that the store opens and holds every acknowledged write.
const (
	crashEnv       = "SECRETBROKER_EMBEDDED_CRASH_HELPER"
	crashMaxSteps  = 3000 // the child stops by itself after this many writes
	crashRounds    = 3
	crashKillAfter = 40 // acknowledgements per round before the kill
)

// crashOp is step i of a round: a Put of a new name, an overwrite of an
// earlier name, or a Delete of an earlier name.
type crashOp struct {
	name   string
	delete bool
}

func crashStep(round, i int) crashOp {
	name := func(n int) string { return fmt.Sprintf("crash_r%d_%05d", round, n) }
	switch i % 10 {
	case 4:
		return crashOp{name: name(i - 3)}
	case 9:
		return crashOp{name: name(i - 7), delete: true}
	}
	return crashOp{name: name(i)}
}

// crashAttrs is the secret written by step i: a few KB of arbitrary bytes,
// so that writes split pages and grow the file.
func crashAttrs(round, i int) map[string]string {
	v := make([]byte, 500+(i*389)%4000)
	x := uint32(round*1_000_003 + i + 1)
	for j := range v {
		x = x*1664525 + 1013904223
		v[j] = byte(x >> 24)
	}
	return map[string]string{"username": fmt.Sprintf("user-%d-%d", round, i), "password": string(v)}
}

// crashState is what a name should hold: the step whose attributes it holds
// and its version.
type crashState struct {
	step, version int
}

// apply returns the state of the store's names after step i.
func (op crashOp) apply(state map[string]crashState, i int) {
	if op.delete {
		delete(state, op.name)
		return
	}
	state[op.name] = crashState{step: i, version: state[op.name].version + 1}
}

func TestCrashHelper(t *testing.T) {
	if os.Getenv(crashEnv) != "1" {
		t.Skip("helper process of TestCrash")
	}
	round, _ := strconv.Atoi(os.Getenv(crashEnv + "_ROUND"))
	ctx := context.Background()
	p, err := New(ctx, Config{Path: os.Getenv(crashEnv + "_PATH"), KeyFile: os.Getenv(crashEnv + "_KEY")})
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper: New:", err)
		os.Exit(2)
	}
	for i := 0; i < crashMaxSteps; i++ {
		op := crashStep(round, i)
		if op.delete {
			err = p.Delete(ctx, ref(op.name))
		} else {
			err = p.Put(ctx, ref(op.name), &providers.Secret{Attributes: crashAttrs(round, i)})
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "helper: step %d: %v\n", i, err)
			os.Exit(3)
		}
		fmt.Printf("ack %d\n", i) // os.Stdout is unbuffered: one write per line
	}
	p.Close()
	fmt.Println("done")
}

func TestCrash(t *testing.T) {
	cfg := testConfig(t)
	mustNew(t, cfg).Close()
	cfg.Create = false
	lastAcked := make([]int, crashRounds)
	for round := 0; round < crashRounds; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashEnv+"=1", crashEnv+"_PATH="+cfg.Path,
			crashEnv+"_KEY="+cfg.KeyFile, crashEnv+"_ROUND="+strconv.Itoa(round))
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Only a safety net against a hung child, not a timing assertion.
		stop := time.AfterFunc(2*time.Minute, func() { cmd.Process.Kill() })
		last, killed, finished := -1, false, false
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if line == "done" {
				finished = true
			}
			var i int
			if _, err := fmt.Sscanf(line, "ack %d", &i); err != nil {
				continue
			}
			if i != last+1 {
				t.Fatalf("round %d: acknowledgement %d after %d", round, i, last)
			}
			last = i
			// Lines already in the pipe after the kill were acknowledged
			// too: the loop reads them all.
			if !killed && last+1 == crashKillAfter*(round+1) {
				if err := cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
					t.Fatal(err)
				}
				killed = true
			}
		}
		err = cmd.Wait()
		stop.Stop()
		switch {
		case finished:
			t.Logf("round %d: the child finished all %d steps before the kill", round, crashMaxSteps)
		case !killed:
			t.Fatalf("round %d: child stopped after %d acknowledgements: %v\n%s", round, last+1, err, stderr.Bytes())
		}
		lastAcked[round] = last
		t.Logf("round %d: %d writes acknowledged before the kill", round, last+1)
		crashVerify(t, cfg, lastAcked[:round+1])
	}
}

// crashVerify reopens the store and checks every round so far: each name
// holds what the acknowledged steps left, and the step in flight at the
// kill either happened entirely or not at all.
func crashVerify(t *testing.T, cfg Config, lastAcked []int) {
	t.Helper()
	p, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("reopening after the kill: %v", err)
	}
	defer p.Close()
	for round, last := range lastAcked {
		acked := map[string]crashState{}
		for i := 0; i <= last; i++ {
			crashStep(round, i).apply(acked, i)
		}
		// The step after the last acknowledgement may have committed.
		var inFlight crashOp
		after := map[string]crashState{}
		if last+1 < crashMaxSteps {
			inFlight = crashStep(round, last+1)
			for k, v := range acked {
				after[k] = v
			}
			inFlight.apply(after, last+1)
		}

		names, err := p.List(context.Background(), "", fmt.Sprintf("crash_r%d_", round))
		if err != nil {
			t.Fatal(err)
		}
		listed := map[string]bool{}
		for _, n := range names {
			listed[n] = true
		}
		for name := range listed {
			if _, ok := acked[name]; !ok && name != inFlight.name {
				t.Errorf("round %d: %s is stored, but the acknowledged steps leave it absent", round, name)
			}
		}
		for name, want := range acked {
			if name == inFlight.name {
				continue
			}
			s, err := p.Get(context.Background(), ref(name))
			if err != nil {
				t.Errorf("round %d: acknowledged %s: %v", round, name, err)
			} else if !crashMatches(s, round, want) {
				t.Errorf("round %d: acknowledged %s: version %s, want %d (step %d) with intact attributes", round, name, s.Version, want.version, want.step)
			}
		}
		if inFlight.name == "" {
			continue
		}
		before, inBefore := acked[inFlight.name]
		now, inAfter := after[inFlight.name]
		if !listed[inFlight.name] {
			if inBefore && inAfter {
				t.Errorf("round %d: %s is missing", round, inFlight.name)
			}
			continue
		}
		s, err := p.Get(context.Background(), ref(inFlight.name))
		if err != nil {
			t.Fatalf("round %d: in-flight %s: %v", round, inFlight.name, err)
		}
		if !(inBefore && crashMatches(s, round, before)) && !(inAfter && crashMatches(s, round, now)) {
			t.Errorf("round %d: in-flight %s holds neither the state before nor after its step", round, inFlight.name)
		}
	}
}

func crashMatches(s *providers.Secret, round int, want crashState) bool {
	attrs := crashAttrs(round, want.step)
	return s.Version == strconv.Itoa(want.version) && s.Attributes["username"] == attrs["username"] &&
		s.Attributes["password"] == attrs["password"] && len(s.Attributes) == len(attrs)
}
