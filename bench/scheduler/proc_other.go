//go:build !linux

package main

import (
	"errors"
	"syscall"
	"time"
)

func sysProcAttr() *syscall.SysProcAttr { return nil }

func loadAverage() float64 { return -1 }

func processCPU(int) (time.Duration, error) { return 0, errors.New("cpu: needs /proc (Linux)") }
