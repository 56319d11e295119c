//go:build !linux

package benchserver

import (
	"errors"
	"syscall"
	"time"
)

func sysProcAttr() *syscall.SysProcAttr { return nil }

func readRSS(int) (uint64, error) { return 0, errors.New("rss: needs /proc (Linux)") }

func LoadAverage() float64 { return -1 }

func processCPU(int) (time.Duration, error) { return 0, errors.New("cpu: needs /proc (Linux)") }

func SelfCPU() time.Duration { return 0 }

func rssParts(int) (uint64, uint64, error) { return 0, 0, errors.New("rss: needs /proc (Linux)") }
