package image

import (
	"encoding/binary"
	"fmt"
	"io"
	"runtime"
)

// PauseImage is the sandbox image: the container that holds a pod's
// namespaces. The agent writes and imports it itself, so no registry is
// ever needed to start a pod.
const PauseImage = "bosun.local/pause:1"

// WritePause writes the sandbox image as an OCI layout tarball for this
// machine's architecture. Its only file is /pause, an executable that
// sleeps until it is killed.
func WritePause(w io.Writer) error {
	exe, err := PauseELF(runtime.GOARCH)
	if err != nil {
		return err
	}
	return WriteImages(w, []Image{{
		Ref:    PauseImage,
		Config: Config{Entrypoint: []string{"/pause"}},
		Files:  []File{RegularFile("/pause", 0o755, exe)},
		// A few hundred bytes: compressing would only cost time.
		Uncompressed: true,
	}})
}

// The machine code of the pause loop. Each blocks in a system call that
// only a signal ends, then goes back to it, so the process uses no CPU and
// lives until a signal with a fatal default action (SIGKILL, or SIGTERM
// outside a PID namespace) ends it. Unlike Kubernetes' pause it reaps no
// zombies: bosun's pods do not share a PID namespace.
var (
	// x86-64: pause() is system call 34.
	pauseAMD64 = []byte{
		0xb8, 0x22, 0x00, 0x00, 0x00, // mov eax, 34
		0x0f, 0x05, //                   syscall
		0xeb, 0xf7, //                   jmp -9 (back to mov)
	}
	// AArch64 has no pause(); ppoll(NULL, 0, NULL, NULL), system call 73,
	// with no descriptors and no timeout blocks the same way.
	pauseARM64 = le32(
		0xd2800000, // mov x0, #0   (fds = NULL)
		0xd2800001, // mov x1, #0   (nfds = 0)
		0xd2800002, // mov x2, #0   (timeout = NULL: forever)
		0xd2800003, // mov x3, #0   (sigmask = NULL)
		0xd2800928, // mov x8, #73  (ppoll)
		0xd4000001, // svc #0
		0x17fffffa, // b -6 instructions (back to the first mov)
	)
)

func le32(words ...uint32) []byte {
	var out []byte
	for _, w := range words {
		out = binary.LittleEndian.AppendUint32(out, w)
	}
	return out
}

// PauseELF returns a complete static ELF64 executable of the pause loop
// for goarch ("amd64" or "arm64").
//
// The file is the smallest thing the Linux loader accepts: a 64-byte ELF
// header, one 56-byte program header, and the code right after them. The
// single PT_LOAD segment maps the whole file, headers included, at
// loadAddr, readable and executable; the entry point is the first byte of
// code. There are no section headers, no dynamic linker and no libc.
func PauseELF(goarch string) ([]byte, error) {
	var machine uint16
	var code []byte
	switch goarch {
	case "amd64":
		machine, code = 62, pauseAMD64 // EM_X86_64
	case "arm64":
		machine, code = 183, pauseARM64 // EM_AARCH64
	default:
		return nil, fmt.Errorf("no pause executable for architecture %q (amd64 and arm64 are supported)", goarch)
	}
	const (
		loadAddr  = 0x400000 // the usual base of a static executable
		ehdrSize  = 64
		phdrSize  = 56
		codeStart = ehdrSize + phdrSize
	)
	size := uint64(codeStart + len(code))
	le := binary.LittleEndian
	b := make([]byte, 0, size)

	// ELF header.
	b = append(b, 0x7f, 'E', 'L', 'F')
	b = append(b, 2)                           // EI_CLASS: ELFCLASS64
	b = append(b, 1)                           // EI_DATA: little-endian
	b = append(b, 1)                           // EI_VERSION: current
	b = append(b, 0)                           // EI_OSABI: System V
	b = append(b, make([]byte, 8)...)          // EI_ABIVERSION and padding up to 16 bytes
	b = le.AppendUint16(b, 2)                  // e_type: ET_EXEC, loaded at the fixed address below
	b = le.AppendUint16(b, machine)            // e_machine
	b = le.AppendUint32(b, 1)                  // e_version
	b = le.AppendUint64(b, loadAddr+codeStart) // e_entry: the first instruction
	b = le.AppendUint64(b, ehdrSize)           // e_phoff: program headers follow this header
	b = le.AppendUint64(b, 0)                  // e_shoff: no section headers
	b = le.AppendUint32(b, 0)                  // e_flags
	b = le.AppendUint16(b, ehdrSize)           // e_ehsize
	b = le.AppendUint16(b, phdrSize)           // e_phentsize
	b = le.AppendUint16(b, 1)                  // e_phnum
	b = le.AppendUint16(b, 0)                  // e_shentsize
	b = le.AppendUint16(b, 0)                  // e_shnum
	b = le.AppendUint16(b, 0)                  // e_shstrndx

	// Program header: one PT_LOAD of the whole file.
	b = le.AppendUint32(b, 1)        // p_type: PT_LOAD
	b = le.AppendUint32(b, 4|1)      // p_flags: PF_R | PF_X
	b = le.AppendUint64(b, 0)        // p_offset: from the start of the file
	b = le.AppendUint64(b, loadAddr) // p_vaddr
	b = le.AppendUint64(b, loadAddr) // p_paddr (unused on Linux)
	b = le.AppendUint64(b, size)     // p_filesz
	b = le.AppendUint64(b, size)     // p_memsz: no .bss
	// p_align: 64 KiB, a multiple of every page size arm64 kernels use, so
	// offset 0 and loadAddr stay congruent whatever the page size.
	b = le.AppendUint64(b, 0x10000)

	return append(b, code...), nil
}
