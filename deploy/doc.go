// Package deploy holds the deployment recipes: the Compose stack with nginx switching
// between two app instances, and the Kubernetes manifests. Its tests check them the way
// `docker compose config` and a reviewer would, with no container engine or cluster.
package deploy
