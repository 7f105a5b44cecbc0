//go:build windows

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/eventlog"
	"golang.org/x/sys/windows/svc/mgr"
)

const serviceName = "jitd"

// serviceAccount is the virtual account the service runs as by default:
// its own identity, with no password and no rights beyond what the data
// directory's ACL gives it.
const serviceAccount = `NT SERVICE\jitd`

// defaultConfigPath is where the service reads its configuration.
func defaultConfigPath() string { return filepath.Join(programData(), "jitd", "config.yaml") }

func programData() string {
	if p := os.Getenv("ProgramData"); p != "" {
		return p
	}
	return `C:\ProgramData`
}

// asService runs serve under the service control manager when the process
// was started by it (handled false otherwise): Stop and Shutdown end it
// after the directory calls in flight, a parameter change (sc control jitd
// paramchange) reloads the configuration, and the service reports Running
// only once the API listens.
func asService(level slog.Leveler, serve func(ctx context.Context, reload <-chan struct{}, ready func(), log *slog.Logger) error) (bool, error) {
	is, err := svc.IsWindowsService()
	if err != nil || !is {
		return false, err
	}
	el, err := eventlog.Open(serviceName)
	if err != nil {
		return true, err
	}
	defer el.Close()
	return true, svc.Run(serviceName, &service{serve: serve, log: slog.New(&eventLogHandler{log: el, level: level})})
}

type service struct {
	serve func(ctx context.Context, reload <-chan struct{}, ready func(), log *slog.Logger) error
	log   *slog.Logger
}

func (s *service) Execute(_ []string, req <-chan svc.ChangeRequest, status chan<- svc.Status) (bool, uint32) {
	status <- svc.Status{State: svc.StartPending, WaitHint: 60000}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reload := make(chan struct{}, 1)
	done := make(chan error, 1)
	accepts := svc.AcceptStop | svc.AcceptShutdown | svc.AcceptParamChange
	ready := func() { status <- svc.Status{State: svc.Running, Accepts: accepts} }
	go func() { done <- s.serve(ctx, reload, ready, s.log) }()
	for {
		select {
		case c := <-req:
			switch c.Cmd {
			case svc.Interrogate:
				status <- c.CurrentStatus
			case svc.Stop, svc.Shutdown:
				status <- svc.Status{State: svc.StopPending, WaitHint: 60000}
				cancel()
				if err := <-done; err != nil {
					s.log.Error("jitd stopped with an error", "err", err)
					return false, 1
				}
				return false, 0
			case svc.ParamChange:
				select {
				case reload <- struct{}{}:
				default:
				}
			}
		case err := <-done:
			if err != nil {
				s.log.Error("jitd stopped with an error", "err", err)
				return false, 1
			}
			return false, 0
		}
	}
}

// eventLogHandler writes log records to the Windows event log, formatted
// as the text log is.
type eventLogHandler struct {
	log   *eventlog.Log
	level slog.Leveler
	attrs []slog.Attr
	group string
}

func (h *eventLogHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

func (h *eventLogHandler) Handle(ctx context.Context, r slog.Record) error {
	var buf bytes.Buffer
	var th slog.Handler = slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: h.level})
	if len(h.attrs) > 0 {
		th = th.WithAttrs(h.attrs)
	}
	if h.group != "" {
		th = th.WithGroup(h.group)
	}
	if err := th.Handle(ctx, r); err != nil {
		return err
	}
	msg := buf.String()
	switch {
	case r.Level >= slog.LevelError:
		return h.log.Error(1, msg)
	case r.Level >= slog.LevelWarn:
		return h.log.Warning(1, msg)
	}
	return h.log.Info(1, msg)
}

func (h *eventLogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr{}, h.attrs...), as...)
	return &c
}

func (h *eventLogHandler) WithGroup(name string) slog.Handler {
	c := *h
	c.group = name
	return &c
}

// installService registers jitd as an automatic service that runs
// `jitd serve --config cfg` as account, registers its event log source,
// and gives the configuration's directory an ACL that admits only the
// service account, SYSTEM and Administrators.
func installService(cfg, account string) error {
	if _, err := os.Stat(cfg); err != nil {
		return fmt.Errorf("%w: write the configuration first (config.example.yaml shows every setting), check it with jitd config check, then install", err)
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("connect to the service manager (run as an administrator): %w", err)
	}
	defer m.Disconnect()
	if s, err := m.OpenService(serviceName); err == nil {
		s.Close()
		return fmt.Errorf("the service %s is installed already; jitd service uninstall first", serviceName)
	}
	s, err := m.CreateService(serviceName, exe, mgr.Config{
		DisplayName:      "jitd just-in-time access",
		Description:      "Grants temporary group memberships and takes them away on time.",
		StartType:        mgr.StartAutomatic,
		DelayedAutoStart: true,
		ServiceStartName: account,
	}, "serve", "--config", cfg)
	if err != nil {
		return fmt.Errorf("create the service: %w", err)
	}
	defer s.Close()
	if err := s.SetRecoveryActions([]mgr.RecoveryAction{{Type: mgr.ServiceRestart, Delay: 2 * time.Second},
		{Type: mgr.ServiceRestart, Delay: 10 * time.Second}, {Type: mgr.ServiceRestart, Delay: time.Minute}}, 24*60*60); err != nil {
		return fmt.Errorf("set the service's recovery actions: %w", err)
	}
	if err := eventlog.InstallAsEventCreate(serviceName, eventlog.Error|eventlog.Warning|eventlog.Info); err != nil && !errors.Is(err, windows.ERROR_ALREADY_EXISTS) {
		s.Delete()
		return fmt.Errorf("register the event log source: %w", err)
	}
	if err := restrict(filepath.Dir(cfg), account); err != nil {
		return err
	}
	return nil
}

// restrict gives dir (and what it holds) an ACL that admits only account,
// SYSTEM and Administrators, and no inherited entries.
func restrict(dir, account string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	sid, _, _, err := windows.LookupSID("", account)
	if err != nil {
		return fmt.Errorf("look up %s: %w", account, err)
	}
	sd, err := windows.SecurityDescriptorFromString("D:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;FA;;;" + sid.String() + ")")
	if err != nil {
		return err
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return err
	}
	if err := windows.SetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, dacl, nil); err != nil {
		return fmt.Errorf("set the ACL of %s: %w", dir, err)
	}
	return nil
}

// openService opens jitd's installed service; close releases it and the
// service manager.
func openService() (s *mgr.Service, close func(), err error) {
	m, err := mgr.Connect()
	if err != nil {
		return nil, nil, fmt.Errorf("connect to the service manager (run as an administrator): %w", err)
	}
	s, err = m.OpenService(serviceName)
	if err != nil {
		m.Disconnect()
		return nil, nil, fmt.Errorf("the service %s is not installed", serviceName)
	}
	return s, func() { s.Close(); m.Disconnect() }, nil
}

func uninstallService() error {
	s, done, err := openService()
	if err != nil {
		return err
	}
	defer done()
	if err := s.Delete(); err != nil {
		return err
	}
	eventlog.Remove(serviceName)
	return nil
}

func controlService(start bool) error {
	s, done, err := openService()
	if err != nil {
		return err
	}
	defer done()
	if start {
		return s.Start()
	}
	st, err := s.Control(svc.Stop)
	if err != nil {
		return err
	}
	for deadline := time.Now().Add(90 * time.Second); st.State != svc.Stopped; {
		if time.Now().After(deadline) {
			return fmt.Errorf("the service did not stop within 90s")
		}
		time.Sleep(300 * time.Millisecond)
		if st, err = s.Query(); err != nil {
			return err
		}
	}
	return nil
}

// containChildren puts this process in a job object that ends every process
// in it when the last handle closes: the connector children end with the
// daemon, however it ends.
func containChildren() error {
	job, err := windows.CreateJobObject(nil, nil)
	if err != nil {
		return err
	}
	info := windows.JOBOBJECT_EXTENDED_LIMIT_INFORMATION{
		BasicLimitInformation: windows.JOBOBJECT_BASIC_LIMIT_INFORMATION{LimitFlags: windows.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE},
	}
	if _, err := windows.SetInformationJobObject(job, windows.JobObjectExtendedLimitInformation, uintptr(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info))); err != nil {
		windows.CloseHandle(job)
		return err
	}
	// The handle stays open for the life of the process on purpose.
	return windows.AssignProcessToJobObject(job, windows.CurrentProcess())
}
