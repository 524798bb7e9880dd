# Built-in guardrail: every deploy, provision and scaffold request names an owner that is an
# existing Group in the catalog (`input.owner.ref`, `input.owner.exists`, `input.owner.kind`).
# Refused for production (deploys and provisions there); a warning everywhere else, so a
# developer can try a service in dev before its team is in the catalog.
# Override this file by putting a file named ownership.rego in the policy directory.
package goldenpath.ownership

import rego.v1

deny contains v if {
	input.environment.production == true
	some v in _findings
}

warn contains v if {
	object.get(input, ["environment", "production"], false) != true
	some v in _findings
}

_findings contains v if {
	not input.owner.ref
	v := sprintf("owner-group: the %s request names no owner — fix: set the owner (metadata.team in platform.yaml, spec.owner in catalog-info.yaml) to a Group in the catalog", [input.action])
}

_findings contains v if {
	input.owner.ref
	input.owner.exists != true
	v := sprintf("owner-group: owner %s does not exist in the catalog — fix: register the Group in the catalog (`platform catalog register`) or name an existing one", [input.owner.ref])
}

_findings contains v if {
	input.owner.exists == true
	lower(input.owner.kind) != "group"
	v := sprintf("owner-group: owner %s is a %s, not a Group — fix: make a team (a Group entity) the owner, e.g. group:default/team-a", [input.owner.ref, input.owner.kind])
}
