//go:build !linux

package testserver

import (
	"os/exec"
	"syscall"
)

// setProcAttr does nothing: only Linux can tie the master's life to ours.
func setProcAttr(cmd *exec.Cmd) {}

// childPIDs is not implemented without /proc; Stop then only waits for the
// master.
func childPIDs(pid int) []int { return nil }

func processAlive(pid int) bool { return syscall.Kill(pid, 0) == nil }
