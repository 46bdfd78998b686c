package main

import (
	"crypto/rand"
	"encoding/hex"
	"io"
	"os"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/term"
)

// newLogger returns the run's logger: JSON when stderr is not a terminal (or format is
// "json"), readable console lines on a terminal. Every line goes through the redactor.
func newLogger(w io.Writer, level, format string) *zap.Logger {
	var lvl zapcore.Level
	if err := lvl.Set(level); err != nil {
		lvl = zapcore.InfoLevel
	}
	if format == "auto" || format == "" {
		format = "json"
		if isTerminal(os.Stderr) {
			format = "console"
		}
	}
	encCfg := zap.NewProductionEncoderConfig()
	encCfg.TimeKey = "ts"
	encCfg.EncodeTime = zapcore.ISO8601TimeEncoder
	encCfg.EncodeDuration = zapcore.StringDurationEncoder
	var enc zapcore.Encoder
	if format == "console" {
		encCfg.EncodeLevel = zapcore.CapitalColorLevelEncoder
		enc = zapcore.NewConsoleEncoder(encCfg)
	} else {
		enc = zapcore.NewJSONEncoder(encCfg)
	}
	core := zapcore.NewCore(enc, zapcore.AddSync(w), lvl)
	return zap.New(core)
}

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// newRunID returns a short random id that marks every log line and sync_runs row of a run.
func newRunID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:4])
}
