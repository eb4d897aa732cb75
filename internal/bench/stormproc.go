package bench

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// proc is a child process with its log file.
type proc struct {
	name string
	argv []string
	env  []string
	dir  string
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{} // closed when cmd.Wait returned
}

func (p *proc) start(stdin io.Reader, stdout io.Writer) error {
	logf, err := os.OpenFile(filepath.Join(p.dir, p.name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("bench: log of %s: %w", p.name, err)
	}
	cmd := exec.Command(p.argv[0], p.argv[1:]...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Dir = p.dir
	cmd.Stdin = stdin
	cmd.Stdout, cmd.Stderr = logf, logf
	if stdout != nil {
		cmd.Stdout = stdout
	}
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("bench: start %s: %w", p.name, err)
	}
	p.cmd, p.log, p.done = cmd, logf, make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	return nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// kill sends SIGKILL to the process group and waits for the process.
func (p *proc) kill() {
	if p.cmd == nil {
		return
	}
	_ = killGroup(p.pid(), syscall.SIGKILL)
	<-p.done
}

// stop asks the process to end (SIGTERM), and kills it after 15 seconds.
func (p *proc) stop() {
	if p.cmd == nil {
		return
	}
	_ = killGroup(p.pid(), syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		p.kill()
	}
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}
