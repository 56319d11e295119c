// Package volume owns what a pod's containers see of the node's files: it lays out the
// pod's volumes under ROOT/<podUID>/volumes/<plugin>/<name> (emptyDir, configMap, secret,
// downwardAPI, projected, plus hostPath type checks), keeps API-backed volumes current
// through atomic `..data` symlink swaps, writes the pod's /etc/hosts, and turns a
// container's volumeMounts and env into the CRI mounts and key/values the runtime needs.
// The layout and the error messages follow the kubelet's, so files on disk, `kubectl
// describe` events and container behaviour match what Kubernetes users expect.
//
// A pod sync calls, in order: Manager.Setup (every sync, so updated ConfigMaps and
// Secrets reach running containers), Manager.Hosts once the sandbox has its IPs, then
// for each container Env and Manager.Mounts (which expands subPathExpr with that env)
// before creating it. Manager.Teardown runs once the pod's containers are gone.
package volume
