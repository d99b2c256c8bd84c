package apiclient

import (
	"context"
	"net/http"

	"github.com/imapmigrate/imapmigrate/internal/service"
)

func (c *Client) ValidateBatch(ctx context.Context, batch string, opts service.ValidateOptions) (*service.BatchValidation, error) {
	return callAs[*service.BatchValidation](ctx, c, http.MethodPost, batchPath(batch)+"/validate", opts)
}

func (c *Client) Validation(ctx context.Context, batch string) (*service.BatchValidation, error) {
	return callAs[*service.BatchValidation](ctx, c, http.MethodGet, batchPath(batch)+"/validation", nil)
}
