package load

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestTranslateSaysWhichDatabaseFailuresARetryCannotFix(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code       string
		schema     string
		config     bool
		retryable  bool
		wantInText string
	}{
		{"28000", "", true, false, "DATABASE_URL"},
		{"28P01", "", true, false, "password"},
		{"3D000", "", true, false, "CREATE DATABASE"},
		{"3F000", "", true, false, "search_path"},
		{"42501", "", true, false, "schema public"},
		{"42501", "archive", true, false, "schema archive"},
		{"42P01", "", true, false, "cbarchive migrate up"},
		{"42883", "", true, false, "cbarchive migrate up"},
		{"40P01", "", false, true, "rerun"},
		{"57P01", "", false, true, "connection lost"},
		{"08006", "", false, true, "connection lost"},
		{"53100", "", false, false, "disk is full"},
		{"57014", "", false, false, "statement cancelled"},
	}
	for _, tt := range tests {
		err := translate(fmt.Errorf("connect: %w", &pgconn.PgError{Code: tt.code, SchemaName: tt.schema, Message: "m"}))
		if got := IsConfigError(err); got != tt.config {
			t.Errorf("SQLSTATE %s: IsConfigError %v, want %v (%v)", tt.code, got, tt.config, err)
		}
		if got := errors.Is(err, ErrRetryable); got != tt.retryable {
			t.Errorf("SQLSTATE %s: retryable %v, want %v (%v)", tt.code, got, tt.retryable, err)
		}
		if !strings.Contains(err.Error(), tt.wantInText) {
			t.Errorf("SQLSTATE %s: %q does not say %q", tt.code, err, tt.wantInText)
		}
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != tt.code {
			t.Errorf("SQLSTATE %s: the original error is not reachable", tt.code)
		}
	}
}

func TestSQLStateMeaning(t *testing.T) {
	t.Parallel()
	for code, want := range map[string]string{
		"42501": "insufficient privilege", "28P01": "password refused", "3D000": "database does not exist",
		"08006": "connection failure", "53200": "database out of resources", "XX000": "SQLSTATE XX000",
	} {
		if got := SQLStateMeaning(code); got != want {
			t.Errorf("SQLStateMeaning(%s) = %q, want %q", code, got, want)
		}
	}
}
