//go:build !linux

package main

import (
	"errors"
	"syscall"
	"time"
)

var errNoProc = errors.New("needs /proc (Linux)")

type procStat struct {
	comm     string
	ppid     int
	cpu      time.Duration
	childCPU time.Duration
}

type machineCPU struct{ busy, total time.Duration }

func readMachineCPU() (machineCPU, error) { return machineCPU{}, errNoProc }

type memory struct{ rss, anon uint64 }

func readStat(int) (procStat, error) { return procStat{}, errNoProc }

func readMemory(int) (memory, error) { return memory{}, errNoProc }

func runtimeProcesses(int, string) ([]int, error) { return nil, errNoProc }

func sysProcAttr() *syscall.SysProcAttr { return nil }
