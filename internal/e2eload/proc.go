package e2eload

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of the CPU times in /proc/<pid>/stat: Linux reports
// them in USER_HZ, which is 100 on every architecture whatever the kernel's
// own tick rate.
const userHZ = 100

// CPUTime is the user plus system CPU a process has used so far, from
// /proc/<pid>/stat (pid 0: this process).
func CPUTime(pid int) (time.Duration, error) {
	path := "/proc/self/stat"
	if pid > 0 {
		path = "/proc/" + strconv.Itoa(pid) + "/stat"
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return parseStatCPU(string(raw))
}

// parseStatCPU reads utime and stime (fields 14 and 15) of a stat line;
// the command name (field 2) may hold spaces and parentheses, so fields are
// counted from its closing parenthesis.
func parseStatCPU(line string) (time.Duration, error) {
	i := strings.LastIndexByte(line, ')')
	if i < 0 {
		return 0, errors.New("stat: no command name")
	}
	f := strings.Fields(line[i+1:])
	// f[0] is field 3 (state): utime is field 14, f[11].
	if len(f) < 13 {
		return 0, fmt.Errorf("stat: %d fields after the name, want at least 13", len(f))
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("stat: utime %q, stime %q: not numbers", f[11], f[12])
	}
	return time.Duration(u+s) * time.Second / userHZ, nil
}

// ListenerPID finds the process listening on TCP port (IPv4 or IPv6, any
// address): the socket's inode from /proc/net/tcp*, then the process
// holding it among /proc/<pid>/fd. It needs the right to read the other
// processes' fd directories (the same user, or root).
func ListenerPID(port int) (int, error) {
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		file, err := os.Open(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(file)
		for sc.Scan() {
			if ino, ok := listenInode(sc.Text(), port); ok {
				inodes["socket:["+ino+"]"] = true
			}
		}
		file.Close()
	}
	if len(inodes) == 0 {
		return 0, fmt.Errorf("nothing listens on port %d", port)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, fd := range procs {
		link, err := os.Readlink(fd)
		if err != nil || !inodes[link] {
			continue
		}
		pid, err := strconv.Atoi(strings.Split(fd, "/")[2])
		if err == nil {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("port %d: no readable process holds its socket", port)
}

// listenInode parses one line of /proc/net/tcp: the inode of a socket in
// state LISTEN (0A) on port.
func listenInode(line string, port int) (string, bool) {
	f := strings.Fields(line)
	if len(f) < 10 || f[3] != "0A" {
		return "", false
	}
	_, hexPort, ok := strings.Cut(f[1], ":")
	if !ok {
		return "", false
	}
	p, err := strconv.ParseInt(hexPort, 16, 32)
	if err != nil || int(p) != port {
		return "", false
	}
	return f[9], true
}
