package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/bosun-sh/bosun/internal/storage"
)

// statusError is an error that knows its metav1.Status.
type statusError struct{ s metav1.Status }

func (e *statusError) Error() string { return e.s.Message }

func newStatus(code int32, reason metav1.StatusReason, msg string) *statusError {
	return &statusError{metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure, Code: code, Reason: reason, Message: msg,
	}}
}

func errBadRequest(format string, a ...any) error {
	return newStatus(http.StatusBadRequest, metav1.StatusReasonBadRequest, fmt.Sprintf(format, a...))
}

func errNotFound(gr schema.GroupResource, name string) error {
	se := newStatus(http.StatusNotFound, metav1.StatusReasonNotFound, fmt.Sprintf("%s %q not found", grString(gr), name))
	se.s.Details = &metav1.StatusDetails{Name: name, Group: gr.Group, Kind: gr.Resource}
	return se
}

func errAlreadyExists(gr schema.GroupResource, name string) error {
	se := newStatus(http.StatusConflict, metav1.StatusReasonAlreadyExists, fmt.Sprintf("%s %q already exists", grString(gr), name))
	se.s.Details = &metav1.StatusDetails{Name: name, Group: gr.Group, Kind: gr.Resource}
	return se
}

func errConflict(gr schema.GroupResource, name, why string) error {
	se := newStatus(http.StatusConflict, metav1.StatusReasonConflict, fmt.Sprintf("Operation cannot be fulfilled on %s %q: %s", grString(gr), name, why))
	se.s.Details = &metav1.StatusDetails{Name: name, Group: gr.Group, Kind: gr.Resource}
	return se
}

func errInvalid(gk schema.GroupKind, name string, errs field.ErrorList) error {
	se := &statusError{apierrors.NewInvalid(gk, name, errs).ErrStatus}
	se.s.TypeMeta = metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}
	return se
}

func errForbidden(gr schema.GroupResource, name, why string) error {
	se := newStatus(http.StatusForbidden, metav1.StatusReasonForbidden, fmt.Sprintf("%s %q is forbidden: %s", grString(gr), name, why))
	se.s.Details = &metav1.StatusDetails{Name: name, Group: gr.Group, Kind: gr.Resource}
	return se
}

func errMethodNotAllowed(verb string) error {
	return newStatus(http.StatusMethodNotAllowed, metav1.StatusReasonMethodNotAllowed, fmt.Sprintf("the server does not allow this method on the requested resource (%s)", verb))
}

func errGone(msg string) error {
	return newStatus(http.StatusGone, metav1.StatusReasonExpired, msg)
}

func grString(gr schema.GroupResource) string {
	if gr.Group == "" {
		return gr.Resource
	}
	return gr.Resource + "." + gr.Group
}

// toStatus maps any error to the Status the client sees. Storage errors
// become their HTTP categories; anything unknown is a 500 with its text.
func toStatus(err error, gr schema.GroupResource, name string) metav1.Status {
	var se *statusError
	if errors.As(err, &se) {
		return se.s
	}
	var ae apierrors.APIStatus
	if errors.As(err, &ae) {
		s := ae.Status()
		s.TypeMeta = metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}
		return s
	}
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return toStatus(errNotFound(gr, name), gr, name)
	case errors.Is(err, storage.ErrExists):
		return toStatus(errAlreadyExists(gr, name), gr, name)
	case errors.Is(err, storage.ErrConflict):
		return toStatus(errConflict(gr, name, "the object has been modified; please apply your changes to the latest version and try again"), gr, name)
	case errors.Is(err, storage.ErrCompacted):
		return toStatus(errGone("The provided continue parameter or resourceVersion is too old. "+strings.TrimSpace(err.Error())), gr, name)
	case errors.Is(err, storage.ErrFutureRevision):
		s := newStatus(http.StatusGatewayTimeout, metav1.StatusReasonTimeout, "Too large resource version: "+err.Error())
		s.s.Details = &metav1.StatusDetails{Causes: []metav1.StatusCause{{Type: metav1.CauseTypeResourceVersionTooLarge, Message: "Too large resource version"}}, RetryAfterSeconds: 1}
		return s.s
	case errors.Is(err, context.DeadlineExceeded):
		return newStatus(http.StatusGatewayTimeout, metav1.StatusReasonTimeout, "the request did not complete in time").s
	}
	return newStatus(http.StatusInternalServerError, metav1.StatusReasonInternalError, "Internal error occurred: "+err.Error()).s
}

func asErr[T error](err error, target *T) bool { return errors.As(err, target) }

func fieldErrNegative(path string, v int32) field.ErrorList {
	return field.ErrorList{field.Invalid(field.NewPath(path), v, "must be greater than or equal to 0")}
}

func fieldErrs(path string, v any, msg string) field.ErrorList {
	return field.ErrorList{field.Invalid(field.NewPath(path), v, msg)}
}
