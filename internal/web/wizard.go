package web

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/imapmigrate/imapmigrate/internal/service"
	"github.com/imapmigrate/imapmigrate/internal/size"
)

// wizardData is the new-batch form: one form in steps (endpoints, users,
// options, review), so that "Validate" re-renders it with every value but
// the file, and "Create" sends all of it at once.
type wizardData struct {
	Endpoints []service.Endpoint

	Name, Source, Dest string
	Include, Exclude   string
	MaxMessageSize     string
	MaxItems           string
	Interval           string
	StartAfter         string
	CompleteAfter      string
	TimeZone           string
	ReceivedAfter      string
	Notify             string
	Start              bool

	Validated bool               // a dry run went through: Plan holds its users
	Plan      *service.BatchPlan // the dry run's users
	Problems  []string           // every problem of the CSV file, with its line
	Errors    []string           // problems of the other fields, or the service's answer
}

func (h *handler) newBatch(c *call) error {
	eps, err := h.svc.Endpoints(c.r.Context())
	if err != nil {
		return err
	}
	h.render(c, http.StatusOK, "batch-new", view{Title: "New batch", Nav: "new-batch", Data: &wizardData{Endpoints: eps}})
	return nil
}

// readWizard reads the form into the page's values and the batch spec;
// errs lists every field that does not parse.
func readWizard(c *call) (*wizardData, service.BatchSpec, []string) {
	f := c.form
	d := &wizardData{
		Name: strings.TrimSpace(f.Get("name")), Source: f.Get("source_endpoint"), Dest: f.Get("dest_endpoint"),
		Include: f.Get("include"), Exclude: f.Get("exclude"), MaxMessageSize: f.Get("max_message_size"),
		MaxItems: f.Get("max_items"), Interval: f.Get("interval"), StartAfter: f.Get("start_after"),
		CompleteAfter: f.Get("complete_after"), TimeZone: strings.TrimSpace(f.Get("timezone")),
		ReceivedAfter: f.Get("received_after"), Notify: f.Get("notify"), Start: f.Get("start") != "",
	}
	spec := service.BatchSpec{Name: d.Name, SourceEndpoint: d.Source, DestEndpoint: d.Dest, Start: d.Start}
	o := &spec.Options
	var errs []string
	check := func(label string, err error) {
		if err != nil {
			errs = append(errs, label+": "+err.Error())
		}
	}
	if d.Source == "" || d.Dest == "" {
		errs = append(errs, "Endpoints: choose the source and the destination")
	}
	if d.Name == "" {
		errs = append(errs, "Name: required")
	} else if d.Name == "new" {
		// /batches/new is this page: a batch called "new" would have none.
		errs = append(errs, `Name: "new" is taken by the console's own page; choose another`)
	}
	o.IncludeFolders, o.ExcludeFolders = splitList(d.Include), splitList(d.Exclude)
	if s := strings.TrimSpace(d.MaxMessageSize); s != "" {
		var err error
		o.MaxMessageSize, err = size.Parse(s)
		if err == nil && o.MaxMessageSize == 0 {
			err = fmt.Errorf("%q is not a size above zero", s)
		}
		check("Maximum message size", err)
	}
	var err error
	o.MaxItems, err = atoiField("Maximum items per mailbox", d.MaxItems, 1)
	if err != nil {
		errs = append(errs, err.Error())
	}
	if s := strings.TrimSpace(d.Interval); s != "" {
		iv, err := parseInterval(s)
		check("Incremental sync interval", err)
		o.IncrementalIntervalSeconds = int64(iv / time.Second)
	}
	// The times are in the zone given, else in the server's.
	loc := time.Local
	if d.TimeZone != "" {
		l, err := service.LoadZone(d.TimeZone)
		check("Time zone", err)
		if err == nil {
			loc, o.TimeZone = l, d.TimeZone
		}
	}
	o.StartAfter, err = service.ParseWhen(d.StartAfter, loc)
	check("Start after", err)
	o.CompleteAfter, err = service.ParseWhen(d.CompleteAfter, loc)
	check("Complete after", err)
	o.ReceivedAfter, err = parseLocalTime(d.ReceivedAfter, dateLayout)
	check("Received after", err)
	o.NotificationEmails = splitList(d.Notify)
	for _, a := range o.NotificationEmails {
		if !strings.Contains(a, "@") {
			errs = append(errs, fmt.Sprintf("Notify: %q is not an e-mail address", a))
		}
	}
	csv, ok := c.files["csv"]
	switch {
	case !ok:
		errs = append(errs, "CSV file: choose the file of users (choose it again after Validate: browsers do not keep it)")
	case strings.TrimSpace(csv) == "":
		errs = append(errs, "CSV file: the file is empty")
	}
	spec.CSV = csv
	return d, spec, errs
}

// createBatch serves both buttons of the wizard: op=validate is a dry run
// that shows the plan or every problem of the CSV file and creates
// nothing; op=create creates the batch (and starts it when asked).
func (h *handler) createBatch(c *call) error {
	ctx := c.r.Context()
	eps, err := h.svc.Endpoints(ctx)
	if err != nil {
		return err
	}
	d, spec, errs := readWizard(c)
	d.Endpoints = eps
	op := c.form.Get("op")
	switch op {
	case "", "validate":
		spec.DryRun = true
	case "create":
	default:
		return fmt.Errorf("%w: op %q: want validate or create", errBadRequest, op)
	}
	v := view{Title: "New batch", Nav: "new-batch", Data: d}
	if len(errs) > 0 {
		d.Errors = errs
		h.render(c, http.StatusUnprocessableEntity, "batch-new", v)
		return nil
	}
	b, plan, err := h.svc.CreateBatch(ctx, spec)
	var ce *service.CSVError
	switch {
	case errors.As(err, &ce):
		d.Problems = problemLines(err)
		h.render(c, http.StatusUnprocessableEntity, "batch-new", v)
	case err != nil:
		status, msg := h.describe(c.r, err)
		d.Errors = []string{msg}
		h.render(c, status, "batch-new", v)
	case plan != nil:
		d.Validated, d.Plan = true, plan
		h.render(c, http.StatusOK, "batch-new", v)
	default:
		started := ""
		if spec.Start {
			started = " and started"
		}
		h.flashOK(c, "Batch %s created%s with %d user(s).", b.Name, started, b.Totals.Users)
		return c.redirect(batchPath(b.Name))
	}
	return nil
}
