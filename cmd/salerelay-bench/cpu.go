package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc CPU times; 100 on every Linux the bench
// targets.
const clockTicks = 100

// cpuSample is CPU time used so far, in seconds: by the whole machine (busy, not idle),
// by the bench process and by the salerelay under test.
type cpuSample struct {
	at                    time.Time
	machine, self, target float64
}

// sampleCPU reads /proc. Unreadable figures stay zero.
func sampleCPU(targetPID int) cpuSample {
	s := cpuSample{at: time.Now(), machine: machineBusy(), self: processCPU(os.Getpid())}
	if targetPID > 0 && targetPID != os.Getpid() {
		s.target = processCPU(targetPID)
	}
	return s
}

// cpuUse is how the machine's CPU was shared between two samples.
type cpuUse struct {
	wall, available              float64 // seconds, and CPU seconds the cores offered
	salerelay, bench, background float64 // CPU seconds
}

func cpuBetween(a, b cpuSample, cores int) cpuUse {
	u := cpuUse{
		wall:      b.at.Sub(a.at).Seconds(),
		salerelay: b.target - a.target,
		bench:     b.self - a.self,
	}
	u.available = u.wall * float64(cores)
	u.background = max(b.machine-a.machine-u.salerelay-u.bench, 0)
	return u
}

func (u cpuUse) String() string {
	if u.available <= 0 {
		return "unknown"
	}
	pct := func(v float64) string { return fmt.Sprintf("%.0f %%", 100*v/u.available) }
	return fmt.Sprintf("salerelay %s, bench client and stand-in %s, other processes %s "+
		"of %.0f CPU-seconds", pct(u.salerelay), pct(u.bench), pct(u.background), u.available)
}

// machineBusy is the machine's non-idle CPU time from the first line of /proc/stat.
func machineBusy() float64 {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	fields := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	var busy float64
	for i, f := range fields[1:] {
		v, _ := strconv.ParseFloat(f, 64)
		if i != 3 && i != 4 && i < 8 { // skip idle and iowait; guest times are in user
			busy += v
		}
	}
	return busy / clockTicks
}

// processCPU is a process's user and system time from /proc/PID/stat.
func processCPU(pid int) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name may hold spaces; the fields after its closing parenthesis are
	// state, ppid, ... with utime and stime the 12th and 13th.
	i := strings.LastIndexByte(string(raw), ')')
	fields := strings.Fields(string(raw)[i+1:])
	if i < 0 || len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / clockTicks
}
