-- Undo 0008: back to trusting liventix.org_id and role membership (see 0001, 0002, 0005).

CREATE OR REPLACE FUNCTION payments._check_org(p_org uuid) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_org IS NULL
       OR (payments.current_org_id() IS NOT NULL AND payments.current_org_id() <> p_org)
       OR (payments.current_org_id() IS NULL
           AND NOT pg_has_role(session_user, 'liventix_platform', 'MEMBER'))
       OR NOT EXISTS (SELECT FROM payments.organizations WHERE id = p_org) THEN
        PERFORM payments._fail('organization_not_found', jsonb_build_object('org_id', p_org));
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION payments._check_platform() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF payments.current_org_id() IS NOT NULL
       OR NOT pg_has_role(session_user, 'liventix_platform', 'MEMBER') THEN
        PERFORM payments._fail('permission_denied', jsonb_build_object(
            'reason', 'ledger maintenance is the platform''s, acting for no organization'));
    END IF;
END
$$;

DO $$
DECLARE
    p record;
BEGIN
    PERFORM set_config('search_path', '', true);
    FOR p IN SELECT schemaname, tablename, policyname, qual, with_check
               FROM pg_policies
              WHERE schemaname IN ('payments', 'messaging', 'ticketing')
                AND policyname IN ('tenant', 'platform')
    LOOP
        IF p.policyname = 'platform' THEN
            EXECUTE format('ALTER POLICY platform ON %I.%I USING (true) WITH CHECK (true)',
                           p.schemaname, p.tablename);
        ELSIF p.qual LIKE '%current_org_id()%' THEN
            EXECUTE format('ALTER POLICY tenant ON %I.%I USING (%s)%s', p.schemaname, p.tablename,
                regexp_replace(p.qual, '\( SELECT (\w+\.current_org_id\(\)) AS current_org_id\)',
                               '\1', 'g'),
                CASE WHEN p.with_check IS NULL THEN ''
                     ELSE format(' WITH CHECK (%s)', regexp_replace(p.with_check,
                         '\( SELECT (\w+\.current_org_id\(\)) AS current_org_id\)', '\1', 'g'))
                END);
        END IF;
    END LOOP;
    PERFORM set_config('search_path', 'public', true);
END
$$;

DROP POLICY receive ON messaging.inbox;
DROP POLICY received ON messaging.inbox;
DROP POLICY platform ON messaging.inbox;
ALTER TABLE messaging.inbox DISABLE ROW LEVEL SECURITY;
GRANT UPDATE, DELETE ON messaging.inbox TO liventix_platform;

CREATE POLICY platform ON payments.api_keys TO liventix_platform USING (true) WITH CHECK (true);
GRANT SELECT, INSERT ON payments.api_keys TO liventix_platform;
GRANT UPDATE (revoked_at, description) ON payments.api_keys TO liventix_platform;

GRANT SELECT, UPDATE ON messaging.endpoint_secrets TO liventix_app, liventix_platform;
ALTER TABLE messaging.endpoint_secrets DROP CONSTRAINT endpoint_secrets_sealed;
ALTER TABLE messaging.endpoint_secrets
    ADD CONSTRAINT endpoint_secrets_secret_check CHECK (secret LIKE 'whsec_%') NOT VALID;

DROP FUNCTION payments.act_for(uuid);
DROP FUNCTION payments.authenticate(text, text, text);

CREATE OR REPLACE FUNCTION ticketing.current_org_id() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE AS
$$ SELECT nullif(current_setting('liventix.org_id', true), '')::uuid $$;
CREATE OR REPLACE FUNCTION messaging.current_org_id() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE AS
$$ SELECT nullif(current_setting('liventix.org_id', true), '')::uuid $$;
CREATE OR REPLACE FUNCTION payments.current_org_id() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE AS
$$ SELECT nullif(current_setting('liventix.org_id', true), '')::uuid $$;

DROP FUNCTION payments.acting_as_platform();
DROP FUNCTION payments._trusted_caller();
DROP FUNCTION payments.current_actor();
DROP FUNCTION payments._act_as(text);
DROP FUNCTION payments._actor_proof(text);
DROP TABLE payments.tenancy_secret;
