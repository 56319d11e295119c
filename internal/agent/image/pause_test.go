package image

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestPauseELFHeaders(t *testing.T) {
	cases := []struct {
		goarch  string
		machine elf.Machine
		code    []byte
	}{
		{"amd64", elf.EM_X86_64, pauseAMD64},
		{"arm64", elf.EM_AARCH64, pauseARM64},
	}
	for _, tc := range cases {
		t.Run(tc.goarch, func(t *testing.T) {
			exe, err := PauseELF(tc.goarch)
			if err != nil {
				t.Fatal(err)
			}
			f, err := elf.NewFile(bytes.NewReader(exe))
			if err != nil {
				t.Fatalf("Go's ELF reader rejects it: %v", err)
			}
			if f.Class != elf.ELFCLASS64 || f.Data != elf.ELFDATA2LSB || f.Type != elf.ET_EXEC || f.Machine != tc.machine {
				t.Errorf("header = %+v", f.FileHeader)
			}
			if len(f.Progs) != 1 {
				t.Fatalf("%d program headers, want 1", len(f.Progs))
			}
			p := f.Progs[0]
			if p.Type != elf.PT_LOAD || p.Flags != elf.PF_R|elf.PF_X || p.Off != 0 || p.Filesz != uint64(len(exe)) || p.Memsz != p.Filesz {
				t.Errorf("program header = %+v", p.ProgHeader)
			}
			if f.Entry < p.Vaddr || f.Entry >= p.Vaddr+p.Memsz {
				t.Fatalf("entry %#x outside the segment", f.Entry)
			}
			if got := exe[f.Entry-p.Vaddr:]; !bytes.Equal(got, tc.code) {
				t.Errorf("code at the entry point = %x, want %x", got, tc.code)
			}
		})
	}
	if _, err := PauseELF("riscv64"); err == nil || !strings.Contains(err.Error(), "riscv64") {
		t.Errorf("riscv64: err = %v, want an unsupported-architecture error", err)
	}
}

// TestPauseRuns executes the generated program on this machine: it must
// start, stay alive and die only when killed.
func TestPauseRuns(t *testing.T) {
	if runtime.GOOS != "linux" || (runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64") {
		t.Skip("the pause executable is for linux/amd64 and linux/arm64")
	}
	exe, err := PauseELF(runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "pause")
	if err := os.WriteFile(path, exe, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path)
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the pause executable: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		t.Fatalf("pause exited on its own: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	// It must be asleep in the kernel, not spinning.
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(cmd.Process.Pid), "stat"))
	if err == nil {
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) > 0 && fields[0] != "S" {
			t.Errorf("pause is in state %s, want S (sleeping)", fields[0])
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != -1 {
			t.Errorf("after SIGKILL: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("pause survived SIGKILL")
	}
}

func TestWritePause(t *testing.T) {
	var buf bytes.Buffer
	if err := WritePause(&buf); err != nil {
		t.Fatal(err)
	}
	a, err := Inspect(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if a.Format != FormatOCI || len(a.Names) != 1 || a.Names[0] != PauseImage {
		t.Errorf("Inspect = %+v", a)
	}
	var again bytes.Buffer
	if err := WritePause(&again); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Error("WritePause is not deterministic")
	}
}
