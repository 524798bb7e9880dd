# Built-in guardrail: databases in production need backups — on a deploy (each entry of
# `input.service.resources`) and on a provision request (`input.resource`).
# Override this file by putting a file named resources.rego in the policy directory.
package goldenpath.resources

import rego.v1

databases := {"postgres", "mysql", "mariadb", "mongodb"}

# the resources a request asks for: a deploy's `service.resources`, a provision's `resource`
_requested := input.service.resources if input.action == "deploy"

_requested := [input.resource] if input.action == "provision"

deny contains v if {
	input.environment.production == true
	some r in _requested
	object.get(r, "backups", false) != true
	r.type in databases
	v := sprintf("production-backups: %s database %s in %s has backups turned off — fix: set `backups: true` on the database (production databases are backed up)", [r.type, r.name, input.environment.name])
}
