package apiclient

import (
	"context"
	"net/http"

	"github.com/imapmigrate/imapmigrate/internal/service"
)

// Notifications lists the report mails of a batch.
func (c *Client) Notifications(ctx context.Context, batch string) ([]service.Notification, error) {
	return callAs[[]service.Notification](ctx, c, http.MethodGet, batchPath(batch)+"/notifications", nil)
}

// Welcome is a batch's welcome letter settings and each user's last letter.
func (c *Client) Welcome(ctx context.Context, batch string) (*service.WelcomeStatus, error) {
	return callAs[*service.WelcomeStatus](ctx, c, http.MethodGet, batchPath(batch)+"/welcome", nil)
}

// SetWelcome replaces a batch's welcome letter settings.
func (c *Client) SetWelcome(ctx context.Context, batch string, opts service.WelcomeOptions) (*service.WelcomeStatus, error) {
	return callAs[*service.WelcomeStatus](ctx, c, http.MethodPut, batchPath(batch)+"/welcome", opts)
}

// PreviewWelcome renders a user's letter without sending it.
func (c *Client) PreviewWelcome(ctx context.Context, batch string, req service.WelcomeRequest) (*service.WelcomePreview, error) {
	return callAs[*service.WelcomePreview](ctx, c, http.MethodPost, batchPath(batch)+"/welcome/preview", req)
}

// SendWelcome queues the letters; Welcome shows how each went.
func (c *Client) SendWelcome(ctx context.Context, batch string, req service.WelcomeRequest) (*service.WelcomeSent, error) {
	return callAs[*service.WelcomeSent](ctx, c, http.MethodPost, batchPath(batch)+"/welcome/send", req)
}
