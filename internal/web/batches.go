package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/imapmigrate/imapmigrate/internal/api"
	"github.com/imapmigrate/imapmigrate/internal/service"
	"github.com/imapmigrate/imapmigrate/internal/size"
)

// batchActions are the buttons of a batch and the states in which the
// service allows them (see internal/service/batchops.go), so that the
// console offers only what can work. Complete and remove go through a
// confirmation page.
var batchActions = []struct {
	name    string
	label   string
	confirm bool
	states  []string
}{
	{"start", "Start", false, []string{service.BatchCreated, service.BatchStopped, service.BatchFailed}},
	{"stop", "Stop", false, []string{service.BatchScheduled, service.BatchSyncing, service.BatchSynced, service.BatchSyncedWithErrors, service.BatchCompleting}},
	{"sync-now", "Sync now", false, []string{service.BatchSyncing, service.BatchSynced, service.BatchSyncedWithErrors}},
	{"complete", "Complete", true, []string{service.BatchSynced, service.BatchSyncedWithErrors}},
	{"remove", "Remove", true, nil}, // nil: any state but Removing
}

// possibleActions lists the actions a batch in state allows, in button
// order.
func possibleActions(state string) []string {
	var out []string
	for _, a := range batchActions {
		if a.states == nil && state != service.BatchRemoving || slices.Contains(a.states, state) {
			out = append(out, a.name)
		}
	}
	return out
}

func actionLabel(name string) string {
	for _, a := range batchActions {
		if a.name == name {
			return a.label
		}
	}
	return name
}

func needsConfirm(name string) bool {
	for _, a := range batchActions {
		if a.name == name {
			return a.confirm
		}
	}
	return false
}

// progress is a <progress> element: Value of Max, or, when Indeterminate,
// a bar that says "working" without a figure.
type progress struct {
	Value         int64  `json:"value"`
	Max           int64  `json:"max"`
	Indeterminate bool   `json:"indeterminate"`
	Text          string `json:"text"`
}

// syncedUsers counts the users whose mailbox has been copied once: those
// kept up to date by incremental syncs and those completed.
func syncedUsers(t service.BatchTotals) int {
	return t.UsersByState[service.UserSynced] + t.UsersByState[service.UserIncrementalSyncing] +
		t.UsersByState[service.UserCompleting] + t.UsersByState[service.UserCompleted]
}

// batchProgress is the running pass's items copied of items to copy; with
// no pass running, the users synced of all users.
func batchProgress(b service.Batch) progress {
	t := b.Totals
	if t.ItemsToCopy > 0 {
		return progress{Value: min(t.ItemsCopied, t.ItemsToCopy), Max: t.ItemsToCopy,
			Text: fmt.Sprintf("%d of %d items copied", t.ItemsCopied, t.ItemsToCopy)}
	}
	synced := int64(syncedUsers(t))
	if t.Users == 0 {
		return progress{Value: 0, Max: 1, Text: "no users"}
	}
	return progress{Value: synced, Max: int64(t.Users), Text: fmt.Sprintf("%d of %d users synced", synced, t.Users)}
}

// userProgress is the user's pass: items copied of items to copy. A user
// between passes shows full when synced and empty when waiting; a pass
// that has not counted its items yet shows an indeterminate bar.
func userProgress(u service.User) progress {
	switch {
	case u.ItemsToCopy > 0:
		return progress{Value: min(u.ItemsCopied, u.ItemsToCopy), Max: u.ItemsToCopy,
			Text: fmt.Sprintf("%d of %d items copied", u.ItemsCopied, u.ItemsToCopy)}
	case u.Status == service.UserSynced || u.Status == service.UserCompleted:
		return progress{Value: 1, Max: 1, Text: "synced"}
	case u.Status == service.UserValidating || u.Status == service.UserSyncing ||
		u.Status == service.UserIncrementalSyncing || u.Status == service.UserCompleting:
		return progress{Max: 1, Indeterminate: true, Text: "scanning"}
	}
	return progress{Value: 0, Max: 1, Text: strings.ToLower(u.Status)}
}

// batchRow is one batch in the table, and in GET /ui/batches.json. CSRF
// and Next are for the action buttons' forms.
type batchRow struct {
	Name        string   `json:"name"`
	State       string   `json:"state"`
	Users       int      `json:"users"`
	Synced      int      `json:"synced"`
	Failed      int      `json:"failed"`
	Blocked     int      `json:"blocked"`
	Items       int64    `json:"items"`
	Skipped     int64    `json:"skipped"`
	Progress    progress `json:"progress"`
	LastSync    string   `json:"last_sync"`
	NextSync    string   `json:"next_sync"`
	Actions     []string `json:"actions"`
	ActionsHTML string   `json:"actions_html"`
	// Stale: synced with no admin action for StaleDays (see
	// service.Batch.Stale).
	Stale     bool   `json:"stale"`
	StaleDays int    `json:"stale_days"`
	CSRF      string `json:"-"`
	Next      string `json:"-"`
}

func (h *handler) newBatchRow(c *call, b service.Batch, next string) (batchRow, error) {
	row := batchRow{
		Name: b.Name, State: b.State, Users: b.Totals.Users, Synced: syncedUsers(b.Totals),
		Failed: b.Totals.UsersByState[service.UserFailed], Blocked: b.Totals.UsersByState[service.UserBlocked],
		Items: b.Totals.ItemsSynced, Skipped: b.Totals.ItemsSkipped,
		Progress: batchProgress(b), LastSync: formatTime(b.LastSync), NextSync: formatTime(b.NextSync),
		Actions: possibleActions(b.State), CSRF: c.s.csrf, Next: next,
	}
	row.Stale, row.StaleDays = staleDays(b)
	// The buttons come from the same template on the page and in the JSON,
	// so that console.js can swap them when the state changes.
	var buf bytes.Buffer
	if err := h.pages["batches"].ExecuteTemplate(&buf, "batch-actions", row); err != nil {
		return row, fmt.Errorf("render actions of batch %q: %w", b.Name, err)
	}
	row.ActionsHTML = buf.String()
	return row, nil
}

func (h *handler) batchRows(c *call) ([]batchRow, error) {
	bs, err := h.svc.Batches(c.r.Context())
	if err != nil {
		return nil, err
	}
	rows := []batchRow{}
	for _, b := range bs {
		row, err := h.newBatchRow(c, b, "/batches")
		if err != nil {
			return nil, err
		}
		rows = append(rows, row)
	}
	return rows, nil
}

func (h *handler) batches(c *call) error {
	rows, err := h.batchRows(c)
	if err != nil {
		return err
	}
	h.render(c, http.StatusOK, "batches", view{Title: "Batches", Nav: "batches", Data: rows})
	return nil
}

func (h *handler) batchesJSON(c *call) error {
	rows, err := h.batchRows(c)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, map[string]any{"batches": rows})
	return nil
}

// batchAction serves the POST /batches/{name}/<action> routes that change
// a batch's state and come back to the page they were posted from.
func (h *handler) batchAction(action string, fn func(context.Context, string) (*service.Batch, error)) func(*call) error {
	return func(c *call) error {
		name := c.r.PathValue("name")
		back := localPath(c.form.Get("next"), batchPath(name))
		b, err := fn(c.r.Context(), name)
		if err != nil {
			h.flashError(c, err)
			return c.redirect(back)
		}
		done := map[string]string{
			"start": "started", "stop": "stopping", "sync-now": "syncing now",
			"complete":     "completing: a last incremental sync runs, then it stops syncing",
			"retry-failed": "retrying its failed and blocked users",
		}[action]
		h.flashOK(c, "Batch %s: %s (now %s).", b.Name, done, b.State)
		return c.redirect(back)
	}
}

func (h *handler) removeBatch(c *call) error {
	name := c.r.PathValue("name")
	if err := h.svc.RemoveBatch(c.r.Context(), name); err != nil {
		h.flashError(c, err)
		return c.redirect(localPath(c.form.Get("next"), "/batches"))
	}
	h.flashOK(c, "Batch %s is being removed: its running syncs stop and its stored passwords are deleted.", name)
	return c.redirect("/batches")
}

type confirmData struct {
	Batch  *service.Batch
	Action string
	Label  string
	Text   string
	Next   string
	// Below lists, before a completion, the users that grade below Good.
	Below []service.GradeNote
}

// confirm asks before an action that cannot be undone. It is a page, not
// a JavaScript dialog, so that it works everywhere and with the keyboard.
func (h *handler) confirm(c *call) error {
	name, action := c.r.PathValue("name"), c.r.PathValue("action")
	if !needsConfirm(action) {
		return fmt.Errorf("no action %q to confirm: %w", action, service.ErrNotFound)
	}
	b, err := h.svc.Batch(c.r.Context(), name)
	if err != nil {
		return err
	}
	text := map[string]string{
		"complete": "A last incremental sync copies what arrived since the previous one; then the batch is Completed and syncs no more. " +
			"Do this once the users' mail goes to the destination.",
		"remove": "The batch, its users and their stored passwords are deleted, and its running syncs stop. " +
			"Mail already copied stays at the destination. Download the report first if you need it.",
	}[action]
	back := batchPath(name)
	if action == "remove" {
		back = "/batches"
	}
	d := confirmData{Batch: b, Action: action, Label: actionLabel(action), Text: text,
		Next: localPath(c.r.URL.Query().Get("next"), back)}
	if action == "complete" {
		if d.Below, err = h.belowGood(c, name); err != nil {
			return err
		}
	}
	h.render(c, http.StatusOK, "confirm", view{Title: actionLabel(action) + " " + name, Nav: "batches", Data: d})
	return nil
}

// batchPath is the page of batch name.
func batchPath(name string) string { return "/batches/" + url.PathEscape(name) }

// userRow is one user of a batch's table, and of GET
// /ui/batches/{name}/users.json.
type userRow struct {
	Email     string   `json:"email"`
	Status    string   `json:"status"`
	Synced    int64    `json:"synced"`
	Skipped   int64    `json:"skipped"`
	Failed    int64    `json:"failed"`
	Bytes     int64    `json:"bytes"`
	BytesText string   `json:"bytes_text"`
	Progress  progress `json:"progress"`
	LastSync  string   `json:"last_sync"`
	Error     string   `json:"error"`
	// Grade is the user's consistency grade (service.GradeUser), GradeWhy
	// its reason and where it comes from.
	Grade    string `json:"grade"`
	GradeWhy string `json:"grade_why"`
	Hidden   bool   `json:"-"` // left out by the status filter
}

// userStates are the statuses a user can have, in the order of a
// migration, for the filter.
var userStates = []string{
	service.UserQueued, service.UserValidating, service.UserSyncing, service.UserSynced,
	service.UserIncrementalSyncing, service.UserCompleting, service.UserCompleted,
	service.UserStopped, service.UserFailed, service.UserBlocked,
}

type batchData struct {
	Batch    *service.Batch
	Row      batchRow
	Users    []userRow
	Filter   string
	Statuses []string
	Problems []string // of a CSV file of users to add
	// Grade is the batch's, its worst user's; GradeWhy says how many
	// users have each grade.
	Grade, GradeWhy string
	// DNS is the check of the batch's domains, made only when the page is
	// asked for with ?dns=1; DNSError says why it could not be made.
	DNS      *service.BatchDNS
	DNSError string
	// Welcome is the welcome letters' panel, on the page only.
	Welcome *welcomePanel
	// Validation is the users' last validation, on the page only.
	Validation *service.BatchValidation
}

type batchJSON struct {
	State string `json:"state"`
	// The summary above the table, as shown.
	Items       string    `json:"items"`
	Size        string    `json:"size"`
	LastSync    string    `json:"last_sync"`
	NextSync    string    `json:"next_sync"`
	Actions     []string  `json:"actions"`
	ActionsHTML string    `json:"actions_html"`
	Grade       string    `json:"grade"`
	Users       []userRow `json:"users"`
}

func (h *handler) loadBatch(c *call, name string) (*batchData, error) {
	ctx := c.r.Context()
	b, err := h.svc.Batch(ctx, name)
	if err != nil {
		return nil, err
	}
	us, err := h.svc.Users(ctx, name)
	if err != nil {
		return nil, err
	}
	row, err := h.newBatchRow(c, *b, batchPath(name))
	if err != nil {
		return nil, err
	}
	filter := c.r.URL.Query().Get("status")
	if !slices.Contains(userStates, filter) {
		filter = ""
	}
	d := &batchData{Batch: b, Row: row, Filter: filter, Statuses: userStates, Users: []userRow{}}
	for _, u := range us {
		g := service.GradeUser(u)
		d.Users = append(d.Users, userRow{
			Email: u.EmailAddress, Status: u.Status, Synced: u.ItemsSynced, Skipped: u.ItemsSkipped, Failed: u.ItemsFailed,
			Bytes: u.Bytes, BytesText: size.Format(u.Bytes), Progress: userProgress(u), LastSync: formatTime(u.LastSync),
			Error: u.LastError, Grade: string(g.Grade), GradeWhy: g.Reason + " (" + gradeSource(g) + ")",
			Hidden: filter != "" && u.Status != filter,
		})
	}
	d.Grade, d.GradeWhy = batchGrade(us)
	return d, nil
}

func (h *handler) batch(c *call) error {
	d, err := h.loadBatch(c, c.r.PathValue("name"))
	if err != nil {
		return err
	}
	if c.r.URL.Query().Get("dns") != "" {
		h.loadDNS(c, d)
	}
	if d.Welcome, err = h.welcomePanel(c, d.Batch.Name); err != nil {
		return err
	}
	if d.Validation, err = h.svc.Validation(c.r.Context(), d.Batch.Name); err != nil {
		return err
	}
	h.render(c, http.StatusOK, "batch", view{Title: "Batch " + d.Batch.Name, Nav: "batches", Data: d})
	return nil
}

func (h *handler) batchJSON(c *call) error {
	d, err := h.loadBatch(c, c.r.PathValue("name"))
	if err != nil {
		return err
	}
	t := d.Batch.Totals
	writeJSON(c.w, http.StatusOK, batchJSON{State: d.Batch.State,
		Items:    fmt.Sprintf("%d synced, %d skipped, %d failed", t.ItemsSynced, t.ItemsSkipped, t.ItemsFailed),
		Size:     size.Format(t.Bytes),
		LastSync: formatTime(d.Batch.LastSync), NextSync: formatTime(d.Batch.NextSync),
		Actions: d.Row.Actions, ActionsHTML: d.Row.ActionsHTML, Grade: d.Grade, Users: d.Users})
	return nil
}

// problemLines turns a CSV error into one line per problem ("line 14:
// EmailAddress ...").
func problemLines(err error) []string {
	var ce *service.CSVError
	if !errors.As(err, &ce) {
		return nil
	}
	out := make([]string, 0, len(ce.Problems))
	for _, p := range ce.Problems {
		out = append(out, p.String())
	}
	if len(out) == 0 {
		out = append(out, err.Error())
	}
	return out
}

func (h *handler) addUsers(c *call) error {
	name := c.r.PathValue("name")
	csv, ok := c.files["csv"]
	var err error
	var added int
	if !ok {
		err = fmt.Errorf("choose a CSV file of users to add: %w", service.ErrInvalid)
	} else {
		added, err = h.svc.AddUsers(c.r.Context(), name, csv)
	}
	if err == nil {
		h.flashOK(c, "%d user(s) added to batch %s.", added, name)
		return c.redirect(batchPath(name))
	}
	d, lerr := h.loadBatch(c, name)
	if lerr != nil {
		return lerr
	}
	v := view{Title: "Batch " + d.Batch.Name, Nav: "batches", Data: d}
	status := statusOf(err)
	if d.Problems = problemLines(err); d.Problems == nil {
		status, v.Error = h.describe(c.r, err)
	}
	h.render(c, status, "batch", v)
	return nil
}

func (h *handler) reportCSV(c *call) error {
	name := c.r.PathValue("name")
	us, err := h.svc.Report(c.r.Context(), name)
	if err != nil {
		return err
	}
	// Built in memory first, so that a failure is an error page, not a
	// truncated file.
	var buf bytes.Buffer
	if err := api.WriteReportCSV(&buf, us); err != nil {
		return err
	}
	c.w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	c.w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name + "-report.csv"}))
	c.w.Write(buf.Bytes())
	return nil
}

func (h *handler) reportJSON(c *call) error {
	name := c.r.PathValue("name")
	us, err := h.svc.Report(c.r.Context(), name)
	if err != nil {
		return err
	}
	if us == nil {
		us = []service.User{}
	}
	b, err := json.MarshalIndent(us, "", "  ")
	if err != nil {
		return err
	}
	c.w.Header().Set("Content-Type", "application/json")
	c.w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name + "-report.json"}))
	c.w.Write(append(b, '\n'))
	return nil
}
