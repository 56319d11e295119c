package registry

import (
	"encoding/json"
	"math/rand"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/apitesting/fuzzer"
	"k8s.io/apimachinery/pkg/api/meta"
	metafuzzer "k8s.io/apimachinery/pkg/apis/meta/fuzzer"
	"k8s.io/client-go/kubernetes/scheme"
	sigsjson "sigs.k8s.io/json"
)

// fuzzSeeds are hand-written bodies reaching the optional parts the kinds
// look into; randomly filled objects of every kind are added to them.
var fuzzSeeds = map[string][]string{
	"Pod": {
		`{"spec":{"containers":[{"name":"c","image":"i","ports":[{"containerPort":-1,"hostPort":70000,"protocol":"SCTP"}],"resources":{"limits":{"cpu":"-1","memory":"1e30"},"requests":{"nvidia.com/gpu":"0.5"}},"livenessProbe":{},"readinessProbe":{"httpGet":{"port":"http"}},"startupProbe":{"tcpSocket":{"port":0},"grpc":{"port":1}},"lifecycle":{"preStop":{},"postStart":{"sleep":{"seconds":-1}}},"env":[{"name":"A","valueFrom":{}},{"name":"B","valueFrom":{"fieldRef":{},"resourceFieldRef":{"resource":"limits.cpu","divisor":"0"}}}],"envFrom":[{}],"volumeMounts":[{"name":"v","mountPath":"../x","subPathExpr":"$(A)"}],"securityContext":{"capabilities":{},"seLinuxOptions":{}}}],"initContainers":[{"name":"i","restartPolicy":"Always"}],"ephemeralContainers":[{"name":"e","targetContainerName":"c"}],"volumes":[{"name":"v"},{"name":"w","projected":{"sources":[{},{"serviceAccountToken":{"path":"t","expirationSeconds":-5}}]}},{"name":"x","downwardAPI":{"items":[{"path":"p"}]}},{"name":"y","hostPath":{"path":"/"},"emptyDir":{"sizeLimit":"-1"}}],"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{}]}},"podAntiAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":[{"weight":-1,"podAffinityTerm":{}}]}},"tolerations":[{"operator":"Exists","effect":"NoExecute","tolerationSeconds":-1},{"operator":"Equal"}],"topologySpreadConstraints":[{"maxSkew":0,"minDomains":-1}],"dnsPolicy":"None","dnsConfig":{"options":[{}]},"readinessGates":[{}],"overhead":{"cpu":"1"},"schedulingGates":[{"name":""}],"resourceClaims":[{}],"os":{},"securityContext":{"sysctls":[{}]},"terminationGracePeriodSeconds":-1,"activeDeadlineSeconds":0}}`,
	},
	"Deployment": {
		`{"spec":{"replicas":-1,"selector":null,"template":{"spec":{"containers":[{}]}},"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":"abc%","maxUnavailable":-1}},"revisionHistoryLimit":-1,"progressDeadlineSeconds":0,"minReadySeconds":-1}}`,
		`{"spec":{"selector":{"matchExpressions":[{"key":"a","operator":"In"},{}]},"strategy":{"type":"Recreate","rollingUpdate":{}},"paused":true}}`,
	},
	"ReplicaSet":  {`{"spec":{"replicas":2147483647,"selector":{},"template":null}}`},
	"StatefulSet": {`{"spec":{"replicas":-1,"selector":{"matchLabels":{"a":"b"}},"volumeClaimTemplates":[{"spec":{"resources":{}}}],"ordinals":{"start":-1},"updateStrategy":{"type":"RollingUpdate","rollingUpdate":{"partition":-1,"maxUnavailable":"0%"}},"persistentVolumeClaimRetentionPolicy":{},"podManagementPolicy":"x"}}`},
	"DaemonSet":   {`{"spec":{"selector":{"matchLabels":{}},"updateStrategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":"50%","maxUnavailable":0}}}}`},
	"Job": {
		`{"spec":{"parallelism":-1,"completions":2147483647,"completionMode":"Indexed","backoffLimitPerIndex":-1,"maxFailedIndexes":5,"podFailurePolicy":{"rules":[{"action":"FailJob"},{"action":"Ignore","onExitCodes":{"operator":"In"},"onPodConditions":[{}]}]},"successPolicy":{"rules":[{}]},"manualSelector":true,"selector":null,"ttlSecondsAfterFinished":-1,"activeDeadlineSeconds":0}}`,
	},
	"CronJob":    {`{"spec":{"schedule":"@every x","timeZone":"Mars/Base","startingDeadlineSeconds":-1,"concurrencyPolicy":"x","jobTemplate":{"spec":{"template":{}}},"successfulJobsHistoryLimit":-1}}`},
	"Service":    {`{"spec":{"type":"NodePort","ports":[{"port":0,"targetPort":"","nodePort":-1},{"port":80,"targetPort":70000,"appProtocol":""}],"clusterIPs":["None","10.0.0.1"],"ipFamilies":["IPv6","IPv6","x"],"ipFamilyPolicy":"x","externalTrafficPolicy":"Local","healthCheckNodePort":-1,"sessionAffinity":"ClientIP","sessionAffinityConfig":{},"loadBalancerSourceRanges":["x"],"externalName":"a..b","internalTrafficPolicy":"x","trafficDistribution":""},"status":{"loadBalancer":{"ingress":[{"ports":[{}]}]}}}`},
	"Endpoints":  {`{"subsets":[{"addresses":[{"ip":"x","targetRef":{}}],"ports":[{"port":-1}]},{}]}`},
	"Node":       {`{"spec":{"podCIDR":"x","podCIDRs":["10.0.0.0/24","10.0.0.0/24","x"],"taints":[{},{"effect":"NoExecute","timeAdded":null}],"configSource":{}}}`},
	"Event":      {`{"involvedObject":{},"count":-1,"series":{"count":-1},"related":{},"source":{},"eventTime":null,"type":"x"}`},
	"Namespace":  {`{"spec":{"finalizers":["","a/b/c"]},"status":{"conditions":[{}]}}`},
	"Secret":     {`{"type":"kubernetes.io/tls","data":{"":"","a b":"eA=="},"stringData":{"x":"y"},"immutable":true}`},
	"ConfigMap":  {`{"data":{"":"x","..a":"b"},"binaryData":{"a":""}}`},
	"LimitRange": {`{"spec":{"limits":[{},{"type":"Container","max":{"cpu":"-1"},"min":{"cpu":"2"},"default":{"memory":"x"},"maxLimitRequestRatio":{"cpu":"0"}}]}}`},
	"ResourceQuota": {
		`{"spec":{"hard":{"pods":"-1","requests.cpu":"1"},"scopes":["x"],"scopeSelector":{"matchExpressions":[{},{"scopeName":"PriorityClass","operator":"In"}]}}}`,
	},
	"PersistentVolume":      {`{"spec":{"capacity":{"storage":"-1"},"accessModes":["x"],"claimRef":{},"nodeAffinity":{"required":{"nodeSelectorTerms":[]}},"local":{},"csi":{"driver":"","volumeHandle":""},"persistentVolumeReclaimPolicy":"Recycle"}}`},
	"PersistentVolumeClaim": {`{"spec":{"accessModes":[],"resources":{"requests":{"storage":"-1Gi"}},"dataSource":{},"dataSourceRef":{"namespace":"x"},"volumeMode":"x","selector":{"matchExpressions":[{}]}}}`},
	"Ingress":               {`{"spec":{"defaultBackend":{},"rules":[{"host":"*.*","http":{"paths":[{"path":"x","pathType":"Exact","backend":{"service":{"port":{}},"resource":{}}},{}]}},{}],"tls":[{"hosts":[""]}]}}`},
	"IngressClass":          {`{"spec":{"controller":"","parameters":{"scope":"Namespace"}}}`},
	"NetworkPolicy":         {`{"spec":{"podSelector":{"matchExpressions":[{}]},"ingress":[{"from":[{},{"ipBlock":{"cidr":"x","except":["y"]}}],"ports":[{"port":"x","endPort":1},{"port":0,"endPort":-1},{}]}],"egress":[{"to":[{"namespaceSelector":null}]}],"policyTypes":["x"]}}`},
	"EndpointSlice":         {`{"addressType":"IPv4","endpoints":[{"addresses":[]},{"addresses":["x"],"conditions":{},"hints":{"forZones":[{}]},"targetRef":{}}],"ports":[{},{"port":-1,"name":""}]}`},
	"Lease":                 {`{"spec":{"leaseDurationSeconds":-1,"leaseTransitions":-1,"holderIdentity":"","strategy":"x","preferredHolder":""}}`},
	"HorizontalPodAutoscaler": {
		`{"spec":{"scaleTargetRef":{},"minReplicas":0,"maxReplicas":-1,"metrics":[{},{"type":"Resource"},{"type":"Pods","pods":{}},{"type":"Object","object":{"target":{}}},{"type":"External","external":{"metric":{},"target":{"type":"Utilization"}}},{"type":"ContainerResource","containerResource":{"target":{"type":"AverageValue"}}}],"behavior":{"scaleUp":{"policies":[{}],"stabilizationWindowSeconds":-1},"scaleDown":{}}},"targetCPUUtilizationPercentage":-1}`,
	},
	"Role":                {`{"rules":[{},{"verbs":[""],"nonResourceURLs":["/x"]}]}`},
	"RoleBinding":         {`{"roleRef":{},"subjects":[{},{"kind":"ServiceAccount"},{"kind":"User","apiGroup":"x"}]}`},
	"ClusterRole":         {`{"rules":[{"verbs":["get"]}],"aggregationRule":{"clusterRoleSelectors":[{},{"matchExpressions":[{}]}]}}`},
	"ClusterRoleBinding":  {`{"roleRef":{"kind":"Role"},"subjects":[{"kind":"Group","namespace":"x"}]}`},
	"StorageClass":        {`{"provisioner":"","reclaimPolicy":"x","volumeBindingMode":"x","allowedTopologies":[{},{"matchLabelExpressions":[{}]}],"parameters":{"":""}}`},
	"PodDisruptionBudget": {`{"spec":{"minAvailable":"x%","maxUnavailable":-1,"selector":{"matchExpressions":[{}]},"unhealthyPodEvictionPolicy":"x"}}`},
	"PriorityClass":       {`{"value":2000000001,"globalDefault":true,"preemptionPolicy":"x"}`},
	"ServiceAccount":      {`{"secrets":[{}],"imagePullSecrets":[{}],"automountServiceAccountToken":false}`},
	"ControllerRevision":  {`{"revision":-1,"data":null}`},
}

// fuzzMeta is the metadata every seed gets, besides none at all.
const fuzzMeta = `"metadata":{"name":"a","namespace":"default","labels":{"a":"b"},"ownerReferences":[{}],"deletionGracePeriodSeconds":-1}`

// FuzzRegistryValidate decodes JSON bodies into each kind as the API server
// does and runs the kind's create and update rules, its table row, field
// selectors, scale access and storage conversion over them: none may
// panic, whatever a client sends.
func FuzzRegistryValidate(f *testing.F) {
	kinds := Kinds()
	for i, k := range kinds {
		f.Add([]byte(`{}`), uint8(i))
		f.Add([]byte(`{`+fuzzMeta+`}`), uint8(i))
		for _, s := range fuzzSeeds[k.GVK.Kind] {
			f.Add([]byte(s), uint8(i))
			f.Add([]byte(`{`+fuzzMeta+`,`+strings.TrimPrefix(s, "{")), uint8(i))
		}
		// Randomly filled objects reach fields no hand-written seed names.
		fill := fuzzer.FuzzerFor(metafuzzer.Funcs, rand.NewSource(int64(i)), scheme.Codecs)
		for range 2 {
			obj := k.New()
			fill.Fill(obj)
			data, err := json.Marshal(obj)
			if err != nil {
				f.Fatalf("%s: %v", k.GVK.Kind, err)
			}
			f.Add(data, uint8(i))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, kind uint8) {
		k := kinds[int(kind)%len(kinds)]
		obj := k.New()
		// The API server's decoding: case-sensitive, unknown fields dropped.
		if _, err := sigsjson.UnmarshalStrict(data, obj); err != nil {
			return
		}
		if k.StoredAs != nil {
			stored, err := k.StoredAs.ToStorage(obj)
			if err == nil {
				_, _ = k.StoredAs.FromStorage(stored)
			}
		}
		old := obj.DeepCopyObject()
		if k.PrepareForCreate != nil {
			k.PrepareForCreate(obj)
		}
		if k.Defaults != nil {
			k.Defaults(obj)
		}
		if k.Validate != nil {
			k.Validate(obj, nil)
		}
		if k.Row != nil {
			k.Row(obj)
		}
		if k.Fields != nil {
			k.Fields(obj)
		}
		if k.Scale != nil {
			k.Scale.Get(obj)
			k.Scale.Set(obj.DeepCopyObject(), -1)
		}
		if k.NameRule != nil {
			if m, err := meta.Accessor(obj); err == nil {
				k.NameRule(m.GetName(), false)
				k.NameRule(m.GetGenerateName(), true)
			}
		}
		// An update of the object to itself, and of the undefaulted body
		// to the defaulted object.
		if k.Validate != nil {
			k.Validate(obj, obj.DeepCopyObject())
		}
		if k.PrepareForUpdate != nil {
			k.PrepareForUpdate(old, obj)
		}
		if k.Defaults != nil {
			k.Defaults(old)
		}
		if k.Validate != nil {
			k.Validate(old, obj)
		}
	})
}
