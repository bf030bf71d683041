-- 0006_fhir_import: what a member imported from FHIR, so importing the same bundle again creates nothing
-- twice. source_key is "<resourceType>/<id>" when the resource has an id, else the SHA-256 (hex) of its
-- canonical JSON; target_id is the row it became (member_profile: the member's id). A target the member
-- later deletes keeps its key: a re-import does not bring it back.
-- Runs inside the server's migration transaction: no BEGIN/COMMIT here.

CREATE TABLE fhir_import (
    member_id uuid NOT NULL REFERENCES account(id) ON DELETE CASCADE,
    source_key text NOT NULL CHECK (length(source_key) BETWEEN 1 AND 160),
    resource text NOT NULL CHECK (resource IN ('Patient', 'Condition', 'MedicationStatement',
                                               'MedicationRequest', 'Observation')),
    target_id uuid NOT NULL,
    imported_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (member_id, source_key)
);

GRANT SELECT, INSERT, DELETE ON fhir_import TO cc_app;
