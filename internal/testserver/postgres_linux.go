package testserver

import "syscall"

// postgresProcAttr runs initdb and the postmaster as cred (nil: as we are),
// in a process group of their own so that a ^C at the terminal does not
// shut the cluster down under running tests, and has the kernel send the
// postmaster SIGQUIT, PostgreSQL's immediate shutdown, when the test binary
// dies. The kernel clears the parent-death signal when credentials change,
// but the Go runtime sets it after switching to cred, just before exec.
func postgresProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred, Setpgid: true, Pdeathsig: syscall.SIGQUIT}
}
