package apiclient

import (
	"context"
	"net/http"

	"github.com/imapmigrate/imapmigrate/internal/api"
	"github.com/imapmigrate/imapmigrate/internal/service"
)

func (c *Client) VerifyBatch(ctx context.Context, batch, user string) (*service.BatchGrades, error) {
	return callAs[*service.BatchGrades](ctx, c, http.MethodPost, batchPath(batch)+"/verify", api.VerifyRequest{User: user})
}

func (c *Client) BatchGrades(ctx context.Context, batch string) (*service.BatchGrades, error) {
	return callAs[*service.BatchGrades](ctx, c, http.MethodGet, batchPath(batch)+"/verify", nil)
}

// CompleteBatchWith returns, on a refusal for grades, an *Error that
// unwraps to a *service.GradeError listing the users.
func (c *Client) CompleteBatchWith(ctx context.Context, batch string, opts service.CompleteOptions) (*service.Completion, error) {
	return callAs[*service.Completion](ctx, c, http.MethodPost, batchPath(batch)+"/complete", opts)
}

func (c *Client) BatchDNS(ctx context.Context, batch string) (*service.BatchDNS, error) {
	return callAs[*service.BatchDNS](ctx, c, http.MethodGet, batchPath(batch)+"/dns", nil)
}
