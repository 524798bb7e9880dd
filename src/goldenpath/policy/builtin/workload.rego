# Built-in guardrails for the workload being deployed (action "deploy").
#
# Input: see docs/policy.md ("Input documents"). Each rule yields one line, rule id: message — fix: how,
# under `deny` (the request is refused) or `warn` (it goes ahead with a warning).
# Override this file by putting a file named workload.rego in the policy directory.
#
# Rules read `input` directly: with rego-cpp a direct reference or object.get costs a few
# microseconds, a call to a user-defined function under `not` milliseconds (measured).
# A missing field is undefined and the rule does not fire.
package goldenpath.workload

import rego.v1

# production needs at least 2 replicas (a missing or null `replicas` means 1)
deny contains v if {
	input.action == "deploy"
	input.environment.production == true
	raw := object.get(input.service, "replicas", null)
	replicas := {"number": raw, "null": 1}[type_name(raw)]
	replicas < 2
	v := sprintf("production-replicas: service %s runs %d replica(s) in %s; production needs at least 2 — fix: set `replicas: 2` (or more) in platform.yaml", [input.service.name, replicas, input.environment.name])
}

# production needs CPU and memory limits
deny contains v if {
	input.action == "deploy"
	input.environment.production == true
	some field in ["cpu", "memory"]
	object.get(input.service, field, null) in {null, ""}
	v := sprintf("production-limits: service %s has no %s limit; production needs CPU and memory limits — fix: set `resources.%s` in platform.yaml (e.g. cpu: 500m, memory: 256Mi)", [input.service.name, field, field])
}

# no `latest` or untagged images: refused in production, a warning elsewhere
deny contains v if {
	input.action == "deploy"
	input.environment.production == true
	some image in input.service.images
	v := _image_finding(image)
}

warn contains v if {
	input.action == "deploy"
	input.environment.production != true
	some image in input.service.images
	v := _image_finding(image)
}

_image_finding(image) := v if {
	not contains(image, "@")
	parts := split(image, "/")
	last := parts[count(parts) - 1]
	problem := _tag_problem(last)
	repository := trim_suffix(image, ":latest")
	v := sprintf("image-tag: image %s %s; pin a version so a deploy is reproducible — fix: use an explicit tag or digest, e.g. %s:1.2.3 or %s@sha256:…", [image, problem, repository, repository])
}

_tag_problem(last) := "has no tag" if not contains(last, ":")

_tag_problem(last) := "uses the `latest` tag" if endswith(last, ":latest")

# tier: critical needs an SLO
deny contains v if {
	input.action == "deploy"
	input.service.tier == "critical"
	object.get(input.service, "slo", null) in {null, {}}
	v := sprintf("critical-slo: service %s is tier critical but declares no SLO — fix: add an `slo:` section (e.g. availability: 99.9) to platform.yaml, or lower the tier", [input.service.name])
}

# a network policy is always generated
deny contains v if {
	input.action == "deploy"
	input.service.network_policy == false
	v := sprintf("network-policy: service %s turns off its generated network policy — fix: remove `network_policy: false`; declare the traffic you need under `dependencies` instead", [input.service.name])
}
