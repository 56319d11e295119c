//go:build !linux

package main

import (
	"errors"
	"syscall"
	"time"
)

func sysProcAttr() *syscall.SysProcAttr { return nil }

func readRSS(int) (uint64, error) { return 0, errors.New("rss: needs /proc (Linux)") }

func loadAverage() float64 { return -1 }

func processCPU(int) (time.Duration, error) { return 0, errors.New("cpu: needs /proc (Linux)") }

func selfCPU() time.Duration { return 0 }

func rssParts(int) (uint64, uint64, error) { return 0, 0, errors.New("rss: needs /proc (Linux)") }
