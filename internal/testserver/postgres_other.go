//go:build !linux

package testserver

import "syscall"

// postgresProcAttr runs the PostgreSQL binaries as cred (nil: as we are).
// Without Linux's parent-death signal, only the reaper stops the cluster
// when the test binary exits.
func postgresProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred, Setpgid: true}
}
