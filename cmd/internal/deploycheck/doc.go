// Package deploycheck holds no code, only tests: they read docker-compose.yml,
// .env.example, deploy/Dockerfile, deploy/k8s and deploy/nats and fail when those files
// drift from the configuration salerelay reads (config.Names) or from its HTTP
// interface: an unknown variable, a missing required one, a probe on the wrong path.
//
// It lives under cmd/ because cmd/internal/config may only be imported from there.
package deploycheck
