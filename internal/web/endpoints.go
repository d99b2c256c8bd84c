package web

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/imapmigrate/imapmigrate/internal/oauth"
	"github.com/imapmigrate/imapmigrate/internal/provider"
	"github.com/imapmigrate/imapmigrate/internal/service"
	"github.com/imapmigrate/imapmigrate/internal/size"
)

// endpointForm is the add and edit form. It has no admin password field
// value: passwords are write-only, and an empty one on edit keeps the
// stored password.
type endpointForm struct {
	Edit             bool
	Name             string
	Host             string
	Port             string
	Security         string
	AuthMechanism    string
	Credentials      string
	AdminFormat      string
	AdminTemplate    string
	AdminUser        string
	AdminDomain      string
	HasAdminPassword bool
	CAFile           string
	CertSHA256       string
	Insecure         bool
	MaxMigrations    string
	MaxIncremental   string
	// Profile is the provider profile ("" generic), MaxMessageSize the
	// largest message in bytes ("" the profile's).
	Profile        string
	MaxMessageSize string
	// The OAuth login: OAuthProvider "" for none. The secrets are
	// write-only, like the admin password: the form only says which are
	// stored.
	OAuthProvider, Tenant, ClientID, TokenURL, Scope, Certificate string
	HasClientSecret, HasPrivateKey, HasServiceAccountKey          bool
}

// Choices of the form's selects, as the service names them.
var (
	securities     = []string{"tls", "starttls", "none"}
	authMechanisms = []string{"auto", "plain", "login", "xoauth2", "oauthbearer"}
	credentialsOf  = []string{service.CredentialsPerUser, service.CredentialsAdmin, service.CredentialsOAuth}
	adminFormats   = []string{service.AdminAuthzid, service.AdminDovecot, service.AdminExchange, service.AdminTemplate}
	oauthProviders = []string{string(oauth.Microsoft), string(oauth.Google), string(oauth.Refresh)}
)

// profileChoice is one option of the profile select; its defaults go in
// data attributes, which console.js shows as the placeholders of the
// fields left to the profile.
type profileChoice struct {
	Name, Description, Host, Security string
	Port, MaxMigrations, Connections  int
	MaxMessageSize                    string
}

func profileChoices() []profileChoice {
	var out []profileChoice
	for _, p := range provider.All() {
		max := p.MaxConcurrentMailboxes
		if max == 0 {
			max = service.DefaultMaxConcurrentMigrations
		}
		out = append(out, profileChoice{Name: p.Name, Description: p.Description, Host: p.Host, Security: string(p.Security),
			Port: p.Port, MaxMigrations: max, Connections: p.Connections, MaxMessageSize: size.Format(p.MaxMessageSize)})
	}
	return out
}

func newEndpointForm() endpointForm {
	return endpointForm{Security: "tls", AuthMechanism: "auto", Credentials: service.CredentialsPerUser, AdminFormat: service.AdminAuthzid}
}

func formOfEndpoint(e *service.Endpoint) endpointForm {
	f := endpointForm{
		Edit: true, Name: e.Name, Host: e.Host, Port: strconv.Itoa(e.Port), Security: e.Security, AuthMechanism: e.AuthMechanism,
		Credentials: e.Credentials, AdminFormat: e.AdminFormat, AdminTemplate: e.AdminTemplate, AdminUser: e.AdminUser,
		AdminDomain: e.AdminDomain, HasAdminPassword: e.HasAdminPassword, CAFile: e.CAFile, CertSHA256: e.CertSHA256,
		Insecure: e.InsecureSkipVerify, MaxMigrations: strconv.Itoa(e.MaxConcurrentMigrations),
		MaxIncremental: strconv.Itoa(e.MaxConcurrentIncrementalSyncs), Profile: e.Profile,
	}
	// Zero is "the profile's": an empty field, not a 0 to correct.
	for _, n := range []struct {
		v  int64
		to *string
	}{{int64(e.Port), &f.Port}, {int64(e.MaxConcurrentMigrations), &f.MaxMigrations},
		{int64(e.MaxConcurrentIncrementalSyncs), &f.MaxIncremental}, {e.MaxMessageSize, &f.MaxMessageSize}} {
		*n.to = ""
		if n.v != 0 {
			*n.to = strconv.FormatInt(n.v, 10)
		}
	}
	if o := e.OAuth; o != nil {
		f.OAuthProvider, f.Tenant, f.ClientID, f.TokenURL, f.Scope, f.Certificate = string(o.Provider), o.Tenant, o.ClientID, o.TokenURL, o.Scope, o.Certificate
		f.HasClientSecret, f.HasPrivateKey, f.HasServiceAccountKey = o.HasClientSecret, o.HasPrivateKey, o.HasServiceAccountKey
	}
	if f.AdminFormat == "" {
		f.AdminFormat = service.AdminAuthzid
	}
	return f
}

// readEndpointForm reads the posted form. Numbers left empty are 0, which
// the service reads as its defaults.
func readEndpointForm(c *call) (endpointForm, service.EndpointSpec, error) {
	v := c.form
	f := endpointForm{
		Name: strings.TrimSpace(v.Get("name")), Host: strings.TrimSpace(v.Get("host")), Port: v.Get("port"),
		Security: v.Get("security"), AuthMechanism: v.Get("auth_mechanism"), Credentials: v.Get("credentials"),
		AdminFormat: v.Get("admin_format"), AdminTemplate: v.Get("admin_template"), AdminUser: strings.TrimSpace(v.Get("admin_user")),
		AdminDomain: strings.TrimSpace(v.Get("admin_domain")), CAFile: strings.TrimSpace(v.Get("ca_file")),
		CertSHA256: strings.TrimSpace(v.Get("cert_sha256")), Insecure: v.Get("insecure_skip_verify") != "",
		MaxMigrations: v.Get("max_concurrent_migrations"), MaxIncremental: v.Get("max_concurrent_incremental_syncs"),
		Profile: v.Get("profile"), MaxMessageSize: strings.TrimSpace(v.Get("max_message_size")),
		OAuthProvider: v.Get("oauth_provider"), Tenant: strings.TrimSpace(v.Get("oauth_tenant")),
		ClientID: strings.TrimSpace(v.Get("oauth_client_id")), TokenURL: strings.TrimSpace(v.Get("oauth_token_url")),
		Scope: strings.TrimSpace(v.Get("oauth_scope")), Certificate: strings.TrimSpace(v.Get("oauth_certificate")),
	}
	spec := service.EndpointSpec{
		Endpoint: service.Endpoint{
			Name: f.Name, Host: f.Host, Security: f.Security, AuthMechanism: f.AuthMechanism, Credentials: f.Credentials,
			AdminFormat: f.AdminFormat, AdminTemplate: f.AdminTemplate, AdminUser: f.AdminUser, AdminDomain: f.AdminDomain,
			CAFile: f.CAFile, CertSHA256: f.CertSHA256, InsecureSkipVerify: f.Insecure, Profile: f.Profile,
		},
		AdminPassword:          v.Get("admin_password"),
		OAuthClientSecret:      v.Get("oauth_client_secret"),
		OAuthPrivateKey:        v.Get("oauth_private_key"),
		OAuthServiceAccountKey: v.Get("oauth_service_account_key"),
	}
	if f.OAuthProvider != "" {
		spec.OAuth = &service.EndpointOAuth{Config: oauth.Config{Provider: oauth.Provider(f.OAuthProvider), Tenant: f.Tenant,
			ClientID: f.ClientID, TokenURL: f.TokenURL, Scope: f.Scope, Certificate: f.Certificate}}
	} else if f.Credentials == service.CredentialsOAuth {
		spec.Credentials = service.CredentialsPerUser
	}
	var errs []string
	for _, n := range []struct {
		label string
		text  string
		least int
		to    *int
	}{
		{"port", f.Port, 1, &spec.Port},
		{"max concurrent migrations", f.MaxMigrations, 1, &spec.MaxConcurrentMigrations},
		{"max concurrent incremental syncs", f.MaxIncremental, 1, &spec.MaxConcurrentIncrementalSyncs},
	} {
		var err error
		if *n.to, err = atoiField(n.label, n.text, n.least); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if f.MaxMessageSize != "" {
		n, err := strconv.ParseInt(f.MaxMessageSize, 10, 64)
		if err != nil || n < 1 {
			errs = append(errs, "max message size: a number of bytes, or empty for the profile's")
		}
		spec.MaxMessageSize = n
	}
	if len(errs) > 0 {
		return f, spec, fmt.Errorf("endpoint %q: %s: %w", f.Name, strings.Join(errs, "; "), service.ErrInvalid)
	}
	return f, spec, nil
}

// endpointRow is one endpoint of the table, with the result of a test
// when one was just run.
type endpointRow struct {
	service.Endpoint
	TestUser  string
	Test      *service.EndpointTest
	TestError string
}

type endpointsData struct {
	Endpoints      []endpointRow
	Form           endpointForm
	Securities     []string
	AuthMechanisms []string
	Credentials    []string
	AdminFormats   []string
	Profiles       []profileChoice
	OAuthProviders []string
}

func newEndpointsData(eps []service.Endpoint, form endpointForm) *endpointsData {
	d := &endpointsData{Form: form, Securities: securities, AuthMechanisms: authMechanisms, Credentials: credentialsOf,
		AdminFormats: adminFormats, Profiles: profileChoices(), OAuthProviders: oauthProviders}
	for _, e := range eps {
		d.Endpoints = append(d.Endpoints, endpointRow{Endpoint: e})
	}
	return d
}

// renderEndpoints renders the endpoints page with status; fill may set a
// row's test result.
func (h *handler) renderEndpoints(c *call, status int, form endpointForm, errMsg string, fill func(*endpointRow)) error {
	eps, err := h.svc.Endpoints(c.r.Context())
	if err != nil {
		return err
	}
	d := newEndpointsData(eps, form)
	if fill != nil {
		for i := range d.Endpoints {
			fill(&d.Endpoints[i])
		}
	}
	h.render(c, status, "endpoints", view{Title: "Endpoints", Nav: "endpoints", Error: errMsg, Data: d})
	return nil
}

func (h *handler) endpoints(c *call) error {
	return h.renderEndpoints(c, http.StatusOK, newEndpointForm(), "", nil)
}

func (h *handler) addEndpoint(c *call) error {
	form, spec, err := readEndpointForm(c)
	if err == nil {
		var ep *service.Endpoint
		if ep, err = h.svc.AddEndpoint(c.r.Context(), spec); err == nil {
			host, port, sec := ep.Host, ep.Port, ep.Security
			if eff := ep.Effective; eff != nil {
				host, port, sec = eff.Host, eff.Port, eff.Security
			}
			h.flashOK(c, "Endpoint %s added (%s:%d, %s). Test it with a user below.", ep.Name, host, port, sec)
			return c.redirect("/endpoints")
		}
	}
	status, msg := h.describe(c.r, err)
	return h.renderEndpoints(c, status, form, msg, nil)
}

func (h *handler) editEndpoint(c *call) error {
	ep, err := h.svc.Endpoint(c.r.Context(), c.r.PathValue("name"))
	if err != nil {
		return err
	}
	h.render(c, http.StatusOK, "endpoint-edit", view{Title: "Edit endpoint " + ep.Name, Nav: "endpoints",
		Data: newEndpointsData(nil, formOfEndpoint(ep))})
	return nil
}

func (h *handler) updateEndpoint(c *call) error {
	name := c.r.PathValue("name")
	old, err := h.svc.Endpoint(c.r.Context(), name)
	if err != nil {
		return err
	}
	form, spec, err := readEndpointForm(c)
	form.Edit, form.Name, form.HasAdminPassword = true, old.Name, old.HasAdminPassword
	if err == nil {
		var ep *service.Endpoint
		if ep, err = h.svc.UpdateEndpoint(c.r.Context(), name, spec); err == nil {
			h.flashOK(c, "Endpoint %s saved.", ep.Name)
			return c.redirect("/endpoints")
		}
	}
	status, msg := h.describe(c.r, err)
	h.render(c, status, "endpoint-edit", view{Title: "Edit endpoint " + name, Nav: "endpoints", Error: msg,
		Data: newEndpointsData(nil, form)})
	return nil
}

// testEndpoint logs in to the endpoint and shows what the server offers,
// or its exact answer, in the endpoint's row. The password typed for the
// test is not put back into the form.
func (h *handler) testEndpoint(c *call) error {
	name := c.r.PathValue("name")
	user := strings.TrimSpace(c.form.Get("user"))
	res, err := h.svc.TestEndpoint(c.r.Context(), name, user, c.form.Get("password"))
	status, msg := http.StatusOK, ""
	if err != nil {
		status, msg = h.describe(c.r, err)
		if status == http.StatusNotFound {
			return err
		}
	}
	return h.renderEndpoints(c, status, newEndpointForm(), "", func(r *endpointRow) {
		if r.Name == name {
			r.TestUser, r.Test, r.TestError = user, res, msg
		}
	})
}

func (h *handler) removeEndpoint(c *call) error {
	name := c.r.PathValue("name")
	if err := h.svc.RemoveEndpoint(c.r.Context(), name); err != nil {
		h.flashError(c, err)
		return c.redirect("/endpoints")
	}
	h.flashOK(c, "Endpoint %s removed.", name)
	return c.redirect("/endpoints")
}
