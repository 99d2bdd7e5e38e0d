-- The current schema: `pg_dump --schema-only` of a database migrated to head, written by
-- `liventix docs` (liventix/docs.py) and kept current by tests/test_docs.py. Read it to see
-- every table, function, trigger, policy and grant as they are now; change them with a
-- migration (migrations/), never here.

--
-- PostgreSQL database dump
--

--
-- Name: messaging; Type: SCHEMA; Schema: -; Owner: -
--

CREATE SCHEMA messaging;

--
-- Name: payments; Type: SCHEMA; Schema: -; Owner: -
--

CREATE SCHEMA payments;

--
-- Name: ticketing; Type: SCHEMA; Schema: -; Owner: -
--

CREATE SCHEMA ticketing;

--
-- Name: deferral_count; Type: DOMAIN; Schema: messaging; Owner: -
--

CREATE DOMAIN messaging.deferral_count AS integer
	CONSTRAINT deferral_count_not_negative CHECK ((VALUE >= 0));

--
-- Name: delivery_channel; Type: DOMAIN; Schema: messaging; Owner: -
--

CREATE DOMAIN messaging.delivery_channel AS text
	CONSTRAINT delivery_channel_known CHECK ((VALUE = ANY (ARRAY['webhook'::text, 'email'::text, 'task'::text])));

--
-- Name: delivery_status; Type: DOMAIN; Schema: messaging; Owner: -
--

CREATE DOMAIN messaging.delivery_status AS text
	CONSTRAINT delivery_status_known CHECK ((VALUE = ANY (ARRAY['pending'::text, 'delivering'::text, 'succeeded'::text, 'dead'::text, 'cancelled'::text])));

--
-- Name: inbox_status; Type: DOMAIN; Schema: messaging; Owner: -
--

CREATE DOMAIN messaging.inbox_status AS text
	CONSTRAINT inbox_status_known CHECK ((VALUE = ANY (ARRAY['pending'::text, 'handled'::text, 'ignored'::text, 'dead'::text])));

--
-- Name: message_type; Type: DOMAIN; Schema: messaging; Owner: -
--

CREATE DOMAIN messaging.message_type AS text
	CONSTRAINT message_type_dotted CHECK ((VALUE ~ '^[a-z0-9_]+(\.[a-z0-9_]+)+$'::text));

--
-- Name: _account; Type: TYPE; Schema: payments; Owner: -
--

CREATE TYPE payments._account AS (
	id uuid,
	org_id uuid,
	currency text,
	normal_side text,
	debits_must_not_exceed_credits boolean,
	credits_must_not_exceed_debits boolean,
	high_volume boolean,
	closed boolean,
	posted_debits bigint,
	posted_credits bigint,
	pending_debits bigint,
	pending_credits bigint,
	version bigint
);

--
-- Name: _batch_account; Type: TYPE; Schema: payments; Owner: -
--

CREATE TYPE payments._batch_account AS (
	id uuid,
	org_id uuid,
	currency text,
	closed boolean,
	hv boolean,
	dm boolean,
	cm boolean,
	debits bigint,
	credits bigint,
	pending_debits bigint,
	pending_credits bigint,
	version bigint
);

--
-- Name: _line; Type: TYPE; Schema: payments; Owner: -
--

CREATE TYPE payments._line AS (
	entry_ord integer,
	line_ord integer,
	entry_id uuid,
	account_id uuid,
	side text,
	amount bigint,
	currency text,
	effective_at timestamp with time zone
);

--
-- Name: _run; Type: TYPE; Schema: payments; Owner: -
--

CREATE TYPE payments._run AS (
	entry_ord integer,
	line_ord integer,
	entry_id uuid,
	account_id uuid,
	side text,
	amount bigint,
	currency text,
	effective_at timestamp with time zone,
	org_id uuid,
	high_volume boolean,
	normal_side text,
	dmnec boolean,
	cmned boolean,
	pending_debits bigint,
	pending_credits bigint,
	posted_debits numeric,
	posted_credits numeric,
	version bigint,
	last_of_entry boolean,
	first_of_entry boolean
);

--
-- Name: account_count; Type: DOMAIN; Schema: payments; Owner: -
--

CREATE DOMAIN payments.account_count AS bigint
	CONSTRAINT accounts_balances_check CHECK ((VALUE >= 0));

--
-- Name: escrow_count; Type: DOMAIN; Schema: payments; Owner: -
--

CREATE DOMAIN payments.escrow_count AS integer
	CONSTRAINT escrow_count_not_negative CHECK ((VALUE >= 0));

--
-- Name: escrow_gross; Type: DOMAIN; Schema: payments; Owner: -
--

CREATE DOMAIN payments.escrow_gross AS bigint
	CONSTRAINT escrow_gross_positive CHECK ((VALUE > 0));

--
-- Name: escrow_state; Type: DOMAIN; Schema: payments; Owner: -
--

CREATE DOMAIN payments.escrow_state AS text
	CONSTRAINT escrow_state_known CHECK ((VALUE = ANY (ARRAY['collecting'::text, 'holding'::text, 'releasable'::text, 'release_requested'::text, 'released'::text, 'frozen'::text, 'cancelled'::text])));

--
-- Name: escrow_sum; Type: DOMAIN; Schema: payments; Owner: -
--

CREATE DOMAIN payments.escrow_sum AS bigint
	CONSTRAINT escrow_sum_not_negative CHECK ((VALUE >= 0));

--
-- Name: amount; Type: DOMAIN; Schema: ticketing; Owner: -
--

CREATE DOMAIN ticketing.amount AS bigint
	CONSTRAINT amount_positive CHECK ((VALUE > 0));

--
-- Name: capacity; Type: DOMAIN; Schema: ticketing; Owner: -
--

CREATE DOMAIN ticketing.capacity AS integer
	CONSTRAINT capacity_positive CHECK ((VALUE > 0));

--
-- Name: name; Type: DOMAIN; Schema: ticketing; Owner: -
--

CREATE DOMAIN ticketing.name AS text
	CONSTRAINT name_not_empty CHECK ((VALUE <> ''::text));

--
-- Name: order_status; Type: DOMAIN; Schema: ticketing; Owner: -
--

CREATE DOMAIN ticketing.order_status AS text
	CONSTRAINT order_status_known CHECK ((VALUE = ANY (ARRAY['awaiting_payment'::text, 'paid'::text, 'partially_refunded'::text, 'refunded'::text, 'cancelled'::text, 'disputed'::text])));

--
-- Name: seats; Type: DOMAIN; Schema: ticketing; Owner: -
--

CREATE DOMAIN ticketing.seats AS integer
	CONSTRAINT seats_not_negative CHECK ((VALUE >= 0));

--
-- Name: ticket_status; Type: DOMAIN; Schema: ticketing; Owner: -
--

CREATE DOMAIN ticketing.ticket_status AS text
	CONSTRAINT ticket_status_known CHECK ((VALUE = ANY (ARRAY['held'::text, 'issued'::text, 'checked_in'::text, 'void'::text, 'released'::text, 'cancelled'::text, 'refunded'::text, 'invalidated'::text])));

--
-- Name: transition_subject; Type: DOMAIN; Schema: ticketing; Owner: -
--

CREATE DOMAIN ticketing.transition_subject AS text
	CONSTRAINT transition_subject_known CHECK ((VALUE = ANY (ARRAY['order'::text, 'ticket'::text])));

--
-- Name: _delivery_rows(uuid, uuid[], uuid[], text[], text[], text[], boolean[], bigint[], text[], text[], text[], uuid[]); Type: FUNCTION; Schema: messaging; Owner: -
--

CREATE FUNCTION messaging._delivery_rows(p_org uuid, p_ids uuid[], p_orgs uuid[], p_types text[], p_aggregate_types text[], p_aggregate_ids text[], p_tasks boolean[], p_mail_of bigint[], p_mail_to text[], p_mail_subject text[], p_mail_body text[], p_keep uuid[]) RETURNS TABLE(n bigint, part integer, k bigint, message_id uuid, org_id uuid, channel text, endpoint_id uuid, recipient text, subject text, body text, target text, aggregate_key text)
    LANGUAGE sql STABLE
    AS $$
    SELECT f.n, 1, 0::bigint, f.id, e.org_id, 'webhook'::text, e.id,
           NULL::text, NULL::text, NULL::text, 'endpoint:' || e.id,
           f.aggregate_type || ':' || f.aggregate_id
      FROM unnest(p_ids, p_orgs, p_types, p_aggregate_types, p_aggregate_ids)
           WITH ORDINALITY AS f(id, org_id, type, aggregate_type, aggregate_id, n)
      JOIN messaging.endpoints e
        ON e.org_id = p_org AND e.org_id = f.org_id AND e.enabled
       AND (cardinality(e.event_types) = 0 OR f.type = ANY (e.event_types))
     WHERE p_keep IS NULL OR f.id = ANY (p_keep)
    UNION ALL
    SELECT f.n, 2, 0::bigint, f.id, f.org_id, 'task'::text, NULL::uuid,
           NULL::text, NULL::text, NULL::text, 'task:' || f.type,
           f.aggregate_type || ':' || f.aggregate_id
      FROM unnest(p_ids, p_orgs, p_types, p_aggregate_types, p_aggregate_ids, p_tasks)
           WITH ORDINALITY AS f(id, org_id, type, aggregate_type, aggregate_id, task, n)
     WHERE p_tasks IS NOT NULL AND f.task AND (p_keep IS NULL OR f.id = ANY (p_keep))
    UNION ALL
    SELECT m.n, 3, m.k, p_ids[m.n], p_orgs[m.n], 'email'::text,
           NULL::uuid, m.recipient, m.subject, m.body, 'email:' || lower(m.recipient),
           p_aggregate_types[m.n] || ':' || p_aggregate_ids[m.n]
      FROM unnest(p_mail_of, p_mail_to, p_mail_subject, p_mail_body)
           WITH ORDINALITY AS m(n, recipient, subject, body, k)
     WHERE CASE WHEN p_keep IS NULL THEN p_ids[m.n] IS NOT NULL
                ELSE p_ids[m.n] = ANY (p_keep) END
$$;

--
-- Name: backlog(); Type: FUNCTION; Schema: messaging; Owner: -
--

CREATE FUNCTION messaging.backlog() RETURNS TABLE(queue text, channel text, pending bigint, oldest_age_s double precision, deferred bigint, deferred_oldest_age_s double precision)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT 'outbox', d.channel, count(*),
           coalesce(extract(epoch FROM now() - min(d.created_at)), 0)::double precision,
           0::bigint, 0::double precision
      FROM messaging.deliveries d
     WHERE d.status IN ('pending', 'delivering')
     GROUP BY d.channel
    UNION ALL
    -- An event put off by transient failures only (attempts 0, deferrals > 0: due again
    -- within seconds, as the health report counts it) is counted apart, not as backlog,
    -- with its own oldest age: one deferred again and again still shows in an age alert.
    SELECT 'inbox', i.source,
           count(*) FILTER (WHERE i.attempts > 0 OR i.deferrals = 0),
           coalesce(extract(epoch FROM now() - min(i.received_at) FILTER (
               WHERE i.attempts > 0 OR i.deferrals = 0)), 0)::double precision,
           count(*) FILTER (WHERE i.attempts = 0 AND i.deferrals > 0),
           coalesce(extract(epoch FROM now() - min(i.received_at) FILTER (
               WHERE i.attempts = 0 AND i.deferrals > 0)), 0)::double precision
      FROM messaging.inbox i
     WHERE i.status = 'pending'
     GROUP BY i.source
$$;

--
-- Name: current_org_id(); Type: FUNCTION; Schema: messaging; Owner: -
--

CREATE FUNCTION messaging.current_org_id() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL RESTRICTED
    AS $$ SELECT payments.current_org_id() $$;

--
-- Name: deliveries_guard(); Type: FUNCTION; Schema: messaging; Owner: -
--

CREATE FUNCTION messaging.deliveries_guard() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    v_type text;
BEGIN
    SELECT m.type INTO v_type FROM messaging.messages m
     WHERE m.id = NEW.message_id AND m.org_id = NEW.org_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'LXM01', MESSAGE = 'delivery_org_mismatch',
            DETAIL = 'a delivery belongs to the organization of its message';
    END IF;
    -- The role in force, as payments._trusted_caller reads it (not this function's owner).
    IF v_type IN ('stripe.transfer.requested', 'stripe.transfer_reversal.requested')
       AND NOT payments._trusted_caller() AND NOT payments.acting_as_platform() THEN
        RAISE EXCEPTION USING ERRCODE = 'LXM01', MESSAGE = 'task_not_allowed',
            DETAIL = format('an organization''s role may not order a %s task', v_type);
    END IF;
    RETURN NEW;
END
$$;

--
-- Name: deliveries_references(); Type: FUNCTION; Schema: messaging; Owner: -
--

CREATE FUNCTION messaging.deliveries_references() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET enable_seqscan TO 'off'
    AS $$
DECLARE
    v_org uuid;
    v_name text;
    v_key text;
    -- This transaction's id: a message it wrote itself (publish_many writes a message and
    -- its deliveries in one statement) needs no lock (below).
    v_xid xid := pg_catalog.xid(pg_catalog.pg_current_xact_id());
    v_sent text;
BEGIN
    -- Wake the workers when the deliveries commit (NOTIFY is sent at commit, never before;
    -- a refusal below rolls it back with them). Here, not in a trigger of its own (session
    -- 35: one trigger call fewer per INSERT, ~60K backend instructions per payment,
    -- cachegrind); an assignment (a simple expression; void's text is ''), not PERFORM,
    -- which would run it as a query with an executor of its own.
    v_sent := pg_catalog.pg_notify('messaging_deliveries', '')::text;
    -- Organization by organization (a statement's rows are one organization's: the
    -- outbox's publishing), so that every lookup is pinned to one (docs/scaling.md).
    FOR v_org IN SELECT DISTINCT d.org_id FROM added d LOOP
        -- The usual case first (session 35): every delivery's message this transaction's own
        -- (the outbox's publishing writes the messages and their deliveries in one
        -- statement), every webhook's endpoint there. One plain lookup per reference, no
        -- lock, and the full check below (its plan of two branches, the locks' subplans, the
        -- error's text), which would find nothing and lock nothing either, is not started.
        IF NOT EXISTS (SELECT FROM added d
                        WHERE d.org_id = v_org
                          AND ((d.channel = 'webhook') <> (d.endpoint_id IS NOT NULL)
                               OR (d.channel = 'email') <> (d.recipient IS NOT NULL)
                               OR NOT EXISTS (SELECT FROM messaging.messages m
                                            WHERE m.id = d.message_id
                                              AND m.org_id = messaging.filter_only(v_org)
                                              AND m.xmin = v_xid
                                              AND m.created_at IS NOT DISTINCT FROM now())
                               OR (d.endpoint_id IS NOT NULL
                                   AND NOT EXISTS (SELECT FROM messaging.endpoints e
                                                    WHERE e.id = d.endpoint_id
                                                      AND e.org_id
                                                          = messaging.filter_only(v_org))))) THEN
            CONTINUE;
        END IF;
        -- The rows' own rules first, as the CHECKs they were refused a row before any key's
        -- check ran.
        SELECT CASE WHEN (d.channel = 'webhook') <> (d.endpoint_id IS NOT NULL)
                    THEN 'deliveries_webhook_has_endpoint'
                    ELSE 'deliveries_email_has_recipient' END
          INTO v_name
          FROM added d
         WHERE d.org_id = v_org
           AND ((d.channel = 'webhook') <> (d.endpoint_id IS NOT NULL)
                OR (d.channel = 'email') <> (d.recipient IS NOT NULL))
         LIMIT 1;
        IF v_name IS NOT NULL THEN
            PERFORM messaging.refuse_shape(v_name);
        END IF;
        SELECT k.name, k.key INTO v_name, v_key
          FROM (SELECT 'deliveries_message_id_fkey' AS name,
                       format('(message_id, org_id)=(%s, %s)', d.message_id, d.org_id) AS key
                  FROM added d
                 WHERE d.org_id = v_org
                   -- A message this transaction wrote (at its top level: xmin is its id,
                   -- and created_at its moment: a frozen row ~2**32 transactions old keeps a
                   -- raw xmin that may equal this id)
                   -- cannot be deleted by another before this one commits (none sees it),
                   -- so it is only looked up; any other is locked FOR KEY SHARE as a key's
                   -- check locks it. CASE: the lookup first, the lock only if it found none.
                   AND CASE WHEN EXISTS (SELECT FROM messaging.messages m
                                          WHERE m.id = d.message_id
                                            AND m.org_id = messaging.filter_only(v_org)
                                            AND m.xmin = v_xid
                                            AND m.created_at IS NOT DISTINCT FROM now())
                            THEN false
                            ELSE NOT EXISTS (SELECT FROM messaging.messages m
                                              WHERE m.id = d.message_id
                                                AND m.org_id = messaging.filter_only(v_org)
                                                FOR KEY SHARE) END
                UNION ALL
                SELECT 'deliveries_endpoint_id_fkey',
                       format('(endpoint_id, org_id)=(%s, %s)', d.endpoint_id, d.org_id)
                  FROM added d
                 WHERE d.org_id = v_org AND d.endpoint_id IS NOT NULL
                   AND NOT EXISTS (SELECT FROM messaging.endpoints e
                                    WHERE e.id = d.endpoint_id
                                      AND e.org_id = messaging.filter_only(v_org))) k
         LIMIT 1;
        IF v_name IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation', SCHEMA = 'messaging',
                TABLE = 'deliveries', CONSTRAINT = v_name,
                MESSAGE = format('insert on table "deliveries" violates foreign key'
                                 ' constraint "%s"', v_name),
                DETAIL = format('Key %s is not present.', v_key);
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;

--
-- Name: deliveries_shape(); Type: FUNCTION; Schema: messaging; Owner: -
--

CREATE FUNCTION messaging.deliveries_shape() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    PERFORM messaging.refuse_shape(
        CASE WHEN (NEW.channel = 'webhook') <> (NEW.endpoint_id IS NOT NULL)
             THEN 'deliveries_webhook_has_endpoint' ELSE 'deliveries_email_has_recipient' END);
    RETURN NEW;
END
$$;

--
-- Name: filter_only(uuid); Type: FUNCTION; Schema: messaging; Owner: -
--

CREATE FUNCTION messaging.filter_only(p_value uuid) RETURNS uuid
    LANGUAGE plpgsql
    AS $$
BEGIN
    RETURN p_value;
END
$$;

--
-- Name: inbox_org(jsonb); Type: FUNCTION; Schema: messaging; Owner: -
--

CREATE FUNCTION messaging.inbox_org(p_payload jsonb) RETURNS uuid
    LANGUAGE sql IMMUTABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $_$
    SELECT coalesce(
        CASE WHEN p_payload #>> '{data,object,metadata,liventix_org_id}'
                  ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
             THEN (p_payload #>> '{data,object,metadata,liventix_org_id}')::uuid END,
        '00000000-0000-0000-0000-000000000000'::uuid)
$_$;

--
-- Name: inbox_place(); Type: FUNCTION; Schema: messaging; Owner: -
--

CREATE FUNCTION messaging.inbox_place() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    NEW.org_id := messaging.inbox_org(NEW.payload);
    RETURN NEW;
END
$$;

--
-- Name: messages_cascade(); Type: FUNCTION; Schema: messaging; Owner: -
--

CREATE FUNCTION messaging.messages_cascade() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    IF pg_catalog.current_setting('transaction_isolation') <> 'read committed'
       AND EXISTS (SELECT FROM removed) THEN
        RAISE EXCEPTION USING ERRCODE = 'LXM04', MESSAGE = 'delete_needs_read_committed',
            DETAIL = format('DELETE on messaging.messages must run at READ COMMITTED (this'
                            ' transaction is %s): the cascade to the deliveries needs a fresh'
                            ' snapshot', upper(pg_catalog.current_setting('transaction_isolation')));
    END IF;
    DELETE FROM messaging.deliveries d USING removed r
     WHERE d.message_id = r.id AND d.org_id = r.org_id;
    RETURN NULL;
END
$$;

--
-- Name: notify_inbox(); Type: FUNCTION; Schema: messaging; Owner: -
--

CREATE FUNCTION messaging.notify_inbox() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    PERFORM pg_notify('messaging_inbox', '');
    RETURN NULL;
END
$$;

--
-- Name: publish(uuid, text, text, text, jsonb, text); Type: FUNCTION; Schema: messaging; Owner: -
--

CREATE FUNCTION messaging.publish(p_org uuid, p_type text, p_aggregate_type text, p_aggregate_id text, p_payload jsonb, p_dedup_key text DEFAULT NULL::text) RETURNS uuid
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    v_id uuid := gen_random_uuid();
BEGIN
    -- A message is an organization's (docs/scaling.md): one of none is refused, never
    -- dropped in silence (a caller with nothing to tell no one publishes nothing: the
    -- platform's chain before a platform organization is registered).
    IF p_org IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'LXM02', MESSAGE = 'message_without_organization',
            DETAIL = format('messaging.publish(%s): every message names its organization',
                            p_type);
    END IF;
    INSERT INTO messaging.messages (id, org_id, type, aggregate_type, aggregate_id, payload,
                                    dedup_key)
    VALUES (v_id, p_org, p_type, p_aggregate_type, p_aggregate_id, p_payload, p_dedup_key)
    ON CONFLICT (dedup_key, org_id) WHERE dedup_key IS NOT NULL DO NOTHING;
    IF NOT FOUND THEN
        SELECT m.id INTO v_id FROM messaging.messages m
         WHERE m.dedup_key = p_dedup_key AND m.org_id = p_org;
        RETURN v_id;
    END IF;
    INSERT INTO messaging.deliveries (message_id, org_id, channel, endpoint_id, target,
                                      aggregate_key)
    SELECT v_id, e.org_id, 'webhook', e.id, 'endpoint:' || e.id,
           p_aggregate_type || ':' || p_aggregate_id
      FROM messaging.endpoints e
     WHERE e.org_id = p_org AND e.enabled
       AND (cardinality(e.event_types) = 0 OR p_type = ANY (e.event_types))
     ORDER BY e.id;
    RETURN v_id;
END
$$;

--
-- Name: publish_many(uuid, uuid[], uuid[], text[], text[], text[], jsonb[], text[], boolean[], bigint[], text[], text[], text[]); Type: FUNCTION; Schema: messaging; Owner: -
--

CREATE FUNCTION messaging.publish_many(p_org uuid, p_ids uuid[], p_orgs uuid[], p_types text[], p_aggregate_types text[], p_aggregate_ids text[], p_payloads jsonb[], p_dedups text[], p_tasks boolean[], p_mail_of bigint[], p_mail_to text[], p_mail_subject text[], p_mail_body text[]) RETURNS SETOF uuid
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    v_written uuid[];
    v_id uuid;
BEGIN
    -- The messages. With no deduplication key (the payment's messages: none has one) every
    -- message is written, by a plain INSERT: ON CONFLICT's speculative insertion (the arbiter
    -- index probed, each row inserted with a token, then confirmed) cost ~50K backend
    -- instructions per payment for nothing (session 35, cachegrind).
    -- The usual case (the payment's: every id given, no deduplication key, no task): the
    -- messages and their deliveries in ONE statement (session 36: a statement fewer, its
    -- executor start and end, and the deliveries' SELECT without the filter on the ids
    -- written, all of them; ~105K backend instructions per payment, cachegrind). The
    -- messages are a data-modifying CTE, written in the same statement whether or not the
    -- main query reads them; the deliveries' statement-level check (deliveries_references)
    -- runs after the whole statement and finds them. Not for tasks: deliveries_guard, a
    -- row trigger, reads its delivery's message, which an INSERT of the same statement has
    -- not made visible to it.
    IF cardinality(p_ids) > 0 AND array_position(p_ids, NULL) IS NULL
       AND cardinality(array_remove(p_dedups, NULL)) = 0
       AND array_position(p_tasks, true) IS NULL THEN
        WITH m AS (
            INSERT INTO messaging.messages (id, org_id, type, aggregate_type, aggregate_id,
                                            payload, dedup_key)
            SELECT m.id, m.org_id, m.type, m.aggregate_type, m.aggregate_id, m.payload,
                   m.dedup_key
              FROM unnest(p_ids, p_orgs, p_types, p_aggregate_types, p_aggregate_ids,
                          p_payloads, p_dedups)
                   AS m(id, org_id, type, aggregate_type, aggregate_id, payload, dedup_key)
        )
        -- The deliveries of every message, no task (p_keep and p_tasks NULL: _delivery_rows's
        -- filters and its task branch fold away).
        INSERT INTO messaging.deliveries (message_id, org_id, channel, endpoint_id, recipient,
                                          subject, body, target, aggregate_key)
        SELECT p.message_id, p.org_id, p.channel, p.endpoint_id, p.recipient, p.subject,
               p.body, p.target, p.aggregate_key
          FROM messaging._delivery_rows(p_org, p_ids, p_orgs, p_types, p_aggregate_types,
                                        p_aggregate_ids, NULL, p_mail_of, p_mail_to,
                                        p_mail_subject, p_mail_body, NULL) p
         ORDER BY p.n, p.part, p.endpoint_id, p.k;
        FOREACH v_id IN ARRAY p_ids LOOP
            RETURN NEXT v_id;
        END LOOP;
        RETURN;
    END IF;
    IF cardinality(array_remove(p_dedups, NULL)) = 0 THEN
        INSERT INTO messaging.messages (id, org_id, type, aggregate_type, aggregate_id,
                                        payload, dedup_key)
        SELECT m.id, m.org_id, m.type, m.aggregate_type, m.aggregate_id, m.payload, m.dedup_key
          FROM unnest(p_ids, p_orgs, p_types, p_aggregate_types, p_aggregate_ids, p_payloads,
                      p_dedups)
               AS m(id, org_id, type, aggregate_type, aggregate_id, payload, dedup_key);
        v_written := coalesce(p_ids, '{}');
    ELSE
        WITH written AS (
            INSERT INTO messaging.messages (id, org_id, type, aggregate_type, aggregate_id,
                                            payload, dedup_key)
            SELECT m.id, m.org_id, m.type, m.aggregate_type, m.aggregate_id, m.payload,
                   m.dedup_key
              FROM unnest(p_ids, p_orgs, p_types, p_aggregate_types, p_aggregate_ids,
                          p_payloads, p_dedups)
                   WITH ORDINALITY AS m(id, org_id, type, aggregate_type, aggregate_id,
                                        payload, dedup_key, n)
             ORDER BY m.n
            ON CONFLICT (dedup_key, org_id) WHERE dedup_key IS NOT NULL DO NOTHING
            RETURNING messages.id
        )
        SELECT coalesce(array_agg(w.id), '{}') INTO v_written FROM written w;
    END IF;
    -- The deliveries of the messages written, in one INSERT: per message (n), its webhooks
    -- by endpoint, its task, its e-mails (k).
    INSERT INTO messaging.deliveries (message_id, org_id, channel, endpoint_id, recipient,
                                      subject, body, target, aggregate_key)
    SELECT p.message_id, p.org_id, p.channel, p.endpoint_id, p.recipient, p.subject,
           p.body, p.target, p.aggregate_key
      FROM messaging._delivery_rows(p_org, p_ids, p_orgs, p_types, p_aggregate_types,
                                    p_aggregate_ids, p_tasks, p_mail_of, p_mail_to,
                                    p_mail_subject, p_mail_body, v_written) p
     ORDER BY p.n, p.part, p.endpoint_id, p.k;
    -- The ids written, in the messages' order (a loop of simple expressions: no executor).
    FOREACH v_id IN ARRAY v_written LOOP
        RETURN NEXT v_id;
    END LOOP;
END
$$;

--
-- Name: receive_signed_event(text, text, text); Type: FUNCTION; Schema: messaging; Owner: -
--

CREATE FUNCTION messaging.receive_signed_event(p_source text, p_body text, p_signature text) RETURNS TABLE(event_id text, event_type text, stored boolean)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $_$
#variable_conflict use_column
DECLARE
    s messaging.inbox_secrets;
    item text;
    stamp text;
    given text[] := '{}';
    expected text;
    doc jsonb;
BEGIN
    SELECT * INTO s FROM messaging.inbox_secrets WHERE source = p_source;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'LXI01', MESSAGE = 'inbox_not_configured',
            DETAIL = format('no signing secret is registered for source %s', p_source);
    END IF;
    FOREACH item IN ARRAY string_to_array(coalesce(p_signature, ''), ',') LOOP
        IF item LIKE 't=%' AND stamp IS NULL THEN
            stamp := substr(item, 3);
        ELSIF item LIKE 'v1=%' THEN
            given := given || substr(item, 4);
        END IF;
    END LOOP;
    IF stamp IS NULL OR stamp !~ '^[0-9]{1,12}$' OR cardinality(given) = 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'LXI01', MESSAGE = 'invalid_signature',
            DETAIL = 'the signature header has no timestamp or no v1 signature';
    END IF;
    IF abs(extract(epoch FROM clock_timestamp()) - stamp::bigint) > s.tolerance_s THEN
        RAISE EXCEPTION USING ERRCODE = 'LXI01', MESSAGE = 'invalid_signature',
            DETAIL = format('the signature''s timestamp is more than %s s from now', s.tolerance_s);
    END IF;
    expected := encode(sha256(s.outer_pad || sha256(s.inner_pad
                    || convert_to(stamp || '.' || p_body, 'UTF8'))), 'hex');
    IF NOT expected = ANY (given) THEN
        RAISE EXCEPTION USING ERRCODE = 'LXI01', MESSAGE = 'invalid_signature',
            DETAIL = 'no signature matches the body';
    END IF;
    BEGIN
        doc := p_body::jsonb;
    EXCEPTION WHEN others THEN
        RAISE EXCEPTION USING ERRCODE = 'LXI01', MESSAGE = 'unusable_event',
            DETAIL = 'the signed body is not JSON PostgreSQL can store';
    END;
    IF jsonb_typeof(doc) <> 'object' OR jsonb_typeof(doc -> 'id') IS DISTINCT FROM 'string'
       OR jsonb_typeof(doc -> 'type') IS DISTINCT FROM 'string' THEN
        RAISE EXCEPTION USING ERRCODE = 'LXI01', MESSAGE = 'unusable_event',
            DETAIL = 'the signed body is not an object with a string id and type';
    END IF;
    event_id := doc ->> 'id';
    event_type := doc ->> 'type';
    INSERT INTO messaging.inbox AS i (source, event_id, type, payload)
    VALUES (p_source, event_id, event_type, doc)
    ON CONFLICT ON CONSTRAINT inbox_pkey DO NOTHING;
    stored := FOUND;
    RETURN NEXT;
END
$_$;

--
-- Name: refuse_change(); Type: FUNCTION; Schema: messaging; Owner: -
--

CREATE FUNCTION messaging.refuse_change() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'LXM03', MESSAGE = 'reference_change_refused',
        DETAIL = format('%s on messaging.%s is refused: deliveries name their message and'
                        ' endpoint by these keys', TG_OP, TG_TABLE_NAME);
END
$$;

--
-- Name: refuse_shape(text); Type: FUNCTION; Schema: messaging; Owner: -
--

CREATE FUNCTION messaging.refuse_shape(p_rule text) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'check_violation', SCHEMA = 'messaging',
        TABLE = 'deliveries', CONSTRAINT = p_rule,
        MESSAGE = format('new row for relation "deliveries" violates check constraint "%s"',
                         p_rule),
        DETAIL = CASE p_rule WHEN 'deliveries_webhook_has_endpoint'
                     THEN 'A webhook''s delivery names an endpoint, and no other does.'
                     ELSE 'An e-mail''s delivery names a recipient, and no other does.' END;
END
$$;

--
-- Name: set_inbox_secret(text, text, integer); Type: FUNCTION; Schema: messaging; Owner: -
--

CREATE FUNCTION messaging.set_inbox_secret(p_source text, p_secret text, p_tolerance_s integer DEFAULT 300) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    k bytea;
    ipad bytea;
    opad bytea;
BEGIN
    IF p_secret IS NULL OR p_secret = '' THEN
        DELETE FROM messaging.inbox_secrets WHERE source = p_source;
        RETURN;
    END IF;
    k := convert_to(p_secret, 'UTF8');
    IF length(k) > 64 THEN
        k := sha256(k);  -- as HMAC does with a key longer than the block
    END IF;
    k := k || decode(repeat('00', 64 - length(k)), 'hex');
    ipad := k;
    opad := k;
    FOR i IN 0..63 LOOP
        ipad := set_byte(ipad, i, get_byte(k, i) # 54);  -- 0x36
        opad := set_byte(opad, i, get_byte(k, i) # 92);  -- 0x5c
    END LOOP;
    INSERT INTO messaging.inbox_secrets (source, inner_pad, outer_pad, tolerance_s)
    VALUES (p_source, ipad, opad, p_tolerance_s)
    ON CONFLICT (source) DO UPDATE
        SET inner_pad = EXCLUDED.inner_pad, outer_pad = EXCLUDED.outer_pad,
            tolerance_s = EXCLUDED.tolerance_s;
END
$$;

--
-- Name: _act_as(text); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments._act_as(p_actor text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    PERFORM set_config('liventix.org_id', CASE WHEN p_actor = 'platform' THEN '' ELSE p_actor END,
                       true);
    PERFORM set_config('liventix.actor_proof', payments._actor_proof(p_actor), true);
END
$$;

--
-- Name: _actor_proof(text); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments._actor_proof(p_actor text) RETURNS text
    LANGUAGE sql STABLE SECURITY DEFINER PARALLEL RESTRICTED
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT encode(sha256(s.outer_pad || sha256(s.inner_pad || convert_to(
               p_actor || '|' || pg_backend_pid()::text || '|'
               || (extract(epoch FROM transaction_timestamp()) * 1000000)::bigint::text,
               'UTF8'))), 'hex')
      FROM payments.tenancy_secret s
$$;

--
-- Name: _change_members(uuid, jsonb, boolean); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments._change_members(p_org uuid, p jsonb, p_add boolean) RETURNS uuid
    LANGUAGE plpgsql
    AS $$
DECLARE
    c payments.account_categories;
    v_accounts uuid[] := ARRAY(SELECT jsonb_array_elements_text(coalesce(p -> 'account_ids', '[]'))::uuid);
    v_categories uuid[] := ARRAY(SELECT jsonb_array_elements_text(coalesce(p -> 'category_ids', '[]'))::uuid);
    v_bad record;
BEGIN
    SELECT * INTO c FROM payments.account_categories
     WHERE id = (p ->> 'category_id')::uuid AND org_id = p_org;
    IF NOT FOUND THEN
        PERFORM payments._fail('category_not_found', jsonb_build_object('category_id', p ->> 'category_id'));
    END IF;
    IF NOT p_add THEN
        DELETE FROM payments.category_members
         WHERE category_id = c.id
           AND (account_id = ANY (v_accounts) OR member_category_id = ANY (v_categories));
        RETURN c.id;
    END IF;
    SELECT x.id, a.currency INTO v_bad FROM unnest(v_accounts) x(id)
      LEFT JOIN payments.accounts a ON a.id = x.id AND a.org_id = p_org
     WHERE a.currency IS DISTINCT FROM c.currency ORDER BY a.currency NULLS FIRST LIMIT 1;
    IF FOUND AND v_bad.currency IS NULL THEN
        PERFORM payments._fail('account_not_found', jsonb_build_object('account_id', v_bad.id));
    ELSIF FOUND THEN
        PERFORM payments._fail('category_currency_mismatch', jsonb_build_object(
            'category_id', c.id, 'category_currency', c.currency, 'member_id', v_bad.id,
            'member_currency', v_bad.currency));
    END IF;
    SELECT x.id, m.currency INTO v_bad FROM unnest(v_categories) x(id)
      LEFT JOIN payments.account_categories m ON m.id = x.id AND m.org_id = p_org
     WHERE m.currency IS DISTINCT FROM c.currency ORDER BY m.currency NULLS FIRST LIMIT 1;
    IF FOUND AND v_bad.currency IS NULL THEN
        PERFORM payments._fail('category_not_found', jsonb_build_object('category_id', v_bad.id));
    ELSIF FOUND THEN
        PERFORM payments._fail('category_currency_mismatch', jsonb_build_object(
            'category_id', c.id, 'category_currency', c.currency, 'member_id', v_bad.id,
            'member_currency', v_bad.currency));
    END IF;
    INSERT INTO payments.category_members (category_id, org_id, currency, account_id)
    SELECT DISTINCT c.id, p_org, c.currency, x FROM unnest(v_accounts) x
    ON CONFLICT DO NOTHING;
    INSERT INTO payments.category_members (category_id, org_id, currency, member_category_id)
    SELECT DISTINCT c.id, p_org, c.currency, x FROM unnest(v_categories) x
    ON CONFLICT DO NOTHING;
    RETURN c.id;
END
$$;

--
-- Name: _check_org(uuid); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments._check_org(p_org uuid) RETURNS void
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_actor text := payments.current_actor();
    v_acting uuid := CASE WHEN v_actor <> 'platform' THEN v_actor::uuid END;
BEGIN
    IF p_org IS NULL
       OR (v_acting IS NOT NULL AND v_acting <> p_org)
       OR (v_acting IS NULL AND v_actor IS DISTINCT FROM 'platform'
           AND NOT payments._trusted_caller())
       OR NOT EXISTS (SELECT FROM payments.organizations WHERE id = p_org) THEN
        PERFORM payments._fail('organization_not_found', jsonb_build_object('org_id', p_org));
    END IF;
END
$$;

--
-- Name: _check_platform(); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments._check_platform() RETURNS void
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF payments.current_org_id() IS NOT NULL
       OR NOT (payments.acting_as_platform() OR payments._trusted_caller()) THEN
        PERFORM payments._fail('permission_denied', jsonb_build_object(
            'reason', 'ledger maintenance is the platform''s, acting for no organization'));
    END IF;
END
$$;

--
-- Name: _check_positions(jsonb, payments._run[]); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments._check_positions(p_entries jsonb, p_run payments._run[]) RETURNS void
    LANGUAGE plpgsql
    SET plan_cache_mode TO 'force_generic_plan'
    AS $_$
DECLARE
    v_bad record;
    v_max constant numeric := 9223372036854775807;
BEGIN
    -- A high-volume account's row is exact only up to its last roll-up: its lines since then
    -- are summed too, where the totals come near the limit (2**61), or the line or one not
    -- yet rolled up is large (2**40; a tiny partial index answers that). Below those, the
    -- roll-up running at least every 2**21 lines keeps the exact total under 2**63
    -- (2**61 + 2**21 * 2**40 = 2**62).
    SELECT * INTO v_bad FROM unnest(p_run) r
     WHERE (NOT r.high_volume AND (r.posted_debits > v_max OR r.posted_credits > v_max))
        OR (r.high_volume
            AND (r.posted_debits >= 2305843009213693952 OR r.posted_credits >= 2305843009213693952
                 OR r.amount >= 1099511627776
                 OR EXISTS (SELECT FROM payments.lines w
                             WHERE w.account_id = r.account_id AND w.account_version IS NULL
                               AND w.amount >= 1099511627776))
            AND (SELECT greatest(
                        r.posted_debits + coalesce(sum(l.amount) FILTER (WHERE l.side = 'debit'), 0),
                        r.posted_credits + coalesce(sum(l.amount) FILTER (WHERE l.side = 'credit'), 0))
                   FROM payments.lines l
                  WHERE l.account_id = r.account_id AND l.account_version IS NULL) > v_max)
     ORDER BY r.entry_ord, r.line_ord LIMIT 1;
    IF FOUND THEN
        PERFORM payments._fail('balance_overflow', jsonb_build_object('account_id', v_bad.account_id));
    END IF;

    -- Checked where each entry leaves each account, so an entry is judged as a whole.
    SELECT r.*,
           CASE WHEN r.dmnec
                THEN r.posted_credits - r.posted_debits - r.pending_debits
                ELSE r.posted_debits - r.posted_credits - r.pending_credits END AS after
      INTO v_bad FROM unnest(p_run) r
     WHERE r.last_of_entry AND (
           (r.dmnec AND r.posted_debits + r.pending_debits > r.posted_credits)
        OR (r.cmned AND r.posted_credits + r.pending_credits > r.posted_debits))
     ORDER BY r.entry_ord, r.line_ord LIMIT 1;
    IF FOUND THEN
        -- balance: what was available before this entry; shortfall: what it lacked.
        PERFORM payments._fail('insufficient_funds', jsonb_build_object(
            'account_id', v_bad.account_id, 'currency', v_bad.currency,
            'balance', v_bad.after + (SELECT coalesce(sum(CASE
                    WHEN (v_bad.dmnec AND s.side = 'debit') OR (v_bad.cmned AND s.side = 'credit')
                    THEN s.amount ELSE -s.amount END), 0)
                FROM unnest(p_run) s
               WHERE s.entry_ord = v_bad.entry_ord AND s.account_id = v_bad.account_id),
            'shortfall', -v_bad.after));
    END IF;

    IF p_entries @? '$[*].conditions[*]' THEN
        FOR v_bad IN
            WITH c AS (
                SELECT (e.x ->> 'ord')::int AS entry_ord, (c.x ->> 'account_id')::uuid AS account_id,
                       (c.x ->> 'version')::bigint AS version, coalesce(c.x ->> 'balance', 'posted') AS kind,
                       (c.x ->> 'gte')::bigint AS gte, (c.x ->> 'lte')::bigint AS lte
                  FROM jsonb_array_elements(p_entries) e(x)
                 CROSS JOIN LATERAL jsonb_array_elements(coalesce(e.x -> 'conditions', '[]')) c(x)
            )
            SELECT c.*, f.version - 1 AS version_before, l.high_volume,
                   CASE c.kind
                       WHEN 'posted' THEN l.posted_debits - l.posted_credits
                       WHEN 'pending' THEN l.posted_debits + l.pending_debits
                                         - l.posted_credits - l.pending_credits
                       ELSE l.posted_debits - l.posted_credits - (CASE WHEN l.normal_side = 'debit'
                                         THEN l.pending_credits ELSE -l.pending_debits END)
                   END * (CASE WHEN l.normal_side = 'debit' THEN 1 ELSE -1 END) AS balance_after
              FROM c
              LEFT JOIN unnest(p_run) f ON f.entry_ord = c.entry_ord AND f.account_id = c.account_id
                                      AND f.first_of_entry
              LEFT JOIN unnest(p_run) l ON l.entry_ord = c.entry_ord AND l.account_id = c.account_id
                                      AND l.last_of_entry
        LOOP
            IF v_bad.version_before IS NULL OR v_bad.high_volume THEN
                PERFORM payments._fail('invalid_condition', jsonb_build_object(
                    'account_id', v_bad.account_id,
                    'reason', 'a condition must name a regular (not high-volume) account of its entry'));
            END IF;
            IF v_bad.version IS NOT NULL AND v_bad.version <> v_bad.version_before THEN
                PERFORM payments._fail('condition_failed', jsonb_build_object(
                    'account_id', v_bad.account_id, 'condition', 'version',
                    'expected', v_bad.version, 'actual', v_bad.version_before));
            END IF;
            IF v_bad.gte IS NOT NULL AND v_bad.balance_after < v_bad.gte THEN
                PERFORM payments._fail('condition_failed', jsonb_build_object(
                    'account_id', v_bad.account_id, 'condition', v_bad.kind || '_balance_gte',
                    'expected', v_bad.gte, 'actual', v_bad.balance_after));
            END IF;
            IF v_bad.lte IS NOT NULL AND v_bad.balance_after > v_bad.lte THEN
                PERFORM payments._fail('condition_failed', jsonb_build_object(
                    'account_id', v_bad.account_id, 'condition', v_bad.kind || '_balance_lte',
                    'expected', v_bad.lte, 'actual', v_bad.balance_after));
            END IF;
        END LOOP;
    END IF;
END
$_$;

--
-- Name: _check_violation(text, text); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments._check_violation(p_table text, p_constraint text) RETURNS void
    LANGUAGE plpgsql
    AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'check_violation', SCHEMA = 'payments',
        TABLE = p_table, CONSTRAINT = p_constraint,
        MESSAGE = format('new row for relation "%s" violates check constraint "%s"',
                         p_table, p_constraint);
END
$$;

--
-- Name: checkpoints; Type: TABLE; Schema: payments; Owner: -
--

CREATE TABLE payments.checkpoints (
    id bigint NOT NULL,
    org_id uuid,
    seq bigint NOT NULL,
    previous_hash bytea,
    hash bytea NOT NULL,
    entry_count bigint NOT NULL,
    cut_at timestamp with time zone NOT NULL,
    platform_seq bigint NOT NULL,
    sealed_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT checkpoints_entry_count_check CHECK ((entry_count >= 0)),
    CONSTRAINT checkpoints_first_has_no_previous CHECK (((seq = 1) = (previous_hash IS NULL))),
    CONSTRAINT checkpoints_seq_check CHECK ((seq > 0))
);

--
-- Name: _checkpoint_event(payments.checkpoints); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments._checkpoint_event(c payments.checkpoints) RETURNS jsonb
    LANGUAGE sql IMMUTABLE
    AS $$
    SELECT jsonb_build_object(
        'scope', CASE WHEN c.org_id IS NULL THEN 'platform' ELSE 'organization' END,
        'org_id', c.org_id, 'seq', c.seq, 'hash', encode(c.hash, 'hex'),
        'previous_hash', encode(c.previous_hash, 'hex'), 'entry_count', c.entry_count,
        'cut_at', payments._utc(c.cut_at), 'sealed_at', payments._utc(c.sealed_at))
$$;

--
-- Name: _checkpoint_hash(uuid, bigint, bytea, timestamp with time zone, text); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments._checkpoint_hash(p_org uuid, p_seq bigint, p_previous bytea, p_cut timestamp with time zone, p_members text) RETURNS bytea
    LANGUAGE sql STABLE
    AS $$
    SELECT sha256(convert_to(concat_ws('|', 'liventix-checkpoint',
        CASE WHEN p_org IS NULL THEN 'platform' ELSE 'organization' END,
        coalesce(p_org::text, ''), p_seq::text, coalesce(encode(p_previous, 'hex'), ''),
        payments._epoch_us(p_cut)::text, coalesce(p_members, '')), 'UTF8'))
$$;

--
-- Name: _close_account(uuid, jsonb); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments._close_account(p_org uuid, p jsonb) RETURNS jsonb
    LANGUAGE plpgsql
    AS $$
DECLARE
    a payments._account;
BEGIN
    a := (payments._lock_accounts(p_org, ARRAY[(p ->> 'account_id')::uuid], true, NULL))[1];
    IF a.org_id <> p_org THEN
        PERFORM payments._fail('account_organization_mismatch',
            jsonb_build_object('account_id', a.id, 'org_id', p_org));
    END IF;
    UPDATE payments.accounts SET closed = true WHERE id = a.id AND org_id = a.org_id;
    RETURN to_jsonb(a.id);
END
$$;

--
-- Name: _closed_high_volume(uuid, uuid[]); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments._closed_high_volume(p_org uuid, p_ids uuid[]) RETURNS SETOF uuid
    LANGUAGE sql STABLE
    AS $$
    SELECT a.id FROM payments.accounts a
     WHERE a.org_id = p_org AND a.id = ANY (p_ids) AND a.high_volume AND a.closed
$$;

--
-- Name: _create_category(uuid, jsonb); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments._create_category(p_org uuid, p jsonb) RETURNS uuid
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_id uuid;
BEGIN
    IF NOT EXISTS (SELECT FROM payments.currencies WHERE code = p ->> 'currency') THEN
        PERFORM payments._fail('unknown_currency', jsonb_build_object('currency', p ->> 'currency'));
    END IF;
    INSERT INTO payments.account_categories (org_id, code, name, currency, normal_side, metadata)
    VALUES (p_org, p ->> 'code', coalesce(p ->> 'name', p ->> 'code'), p ->> 'currency',
            p ->> 'normal_side', coalesce(p -> 'metadata', '{}'::jsonb))
    RETURNING id INTO v_id;
    RETURN v_id;
END
$$;

--
-- Name: _create_hold(uuid, jsonb); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments._create_hold(p_org uuid, p jsonb) RETURNS jsonb
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_debit uuid := (p ->> 'debit_account_id')::uuid;
    v_credit uuid := (p ->> 'credit_account_id')::uuid;
    v_amount bigint := (p ->> 'amount')::bigint;
    v_currency text := p ->> 'currency';
    v_expires timestamptz := (p ->> 'expires_at')::timestamptz;
    v_accounts payments._account[];
    a payments._account;
    v_id uuid := gen_random_uuid();
    v_available numeric;
    v_debit_org uuid;
    v_credit_org uuid;
    v_who uuid;
BEGIN
    IF v_expires IS NOT NULL AND v_expires <= now() THEN
        PERFORM payments._fail('hold_expiry_not_in_future',
            jsonb_build_object('expires_at', v_expires, 'now', now()));
    END IF;
    v_accounts := payments._lock_accounts(p_org, ARRAY[v_debit, v_credit], true, NULL);
    FOREACH a IN ARRAY v_accounts LOOP
        IF a.currency <> v_currency THEN
            PERFORM payments._fail('currency_mismatch', jsonb_build_object('account_id', a.id,
                'account_currency', a.currency, 'line_currency', v_currency));
        END IF;
    END LOOP;
    FOREACH a IN ARRAY v_accounts LOOP
        IF a.closed THEN
            PERFORM payments._fail('account_closed', jsonb_build_object('account_id', a.id));
        END IF;
        v_available := CASE
            WHEN a.id = v_debit AND a.debits_must_not_exceed_credits
                THEN a.posted_credits - a.posted_debits - a.pending_debits
            WHEN a.id = v_credit AND a.credits_must_not_exceed_debits
                THEN a.posted_debits - a.posted_credits - a.pending_credits
        END;
        IF v_available < v_amount THEN
            PERFORM payments._fail('insufficient_funds', jsonb_build_object('account_id', a.id,
                'currency', a.currency, 'balance', v_available, 'shortfall', v_amount - v_available));
        END IF;
        IF (CASE WHEN a.id = v_debit THEN a.pending_debits ELSE a.pending_credits END)::numeric
           + v_amount > 9223372036854775807 THEN
            PERFORM payments._fail('balance_overflow', jsonb_build_object('account_id', a.id));
        END IF;
    END LOOP;
    -- Locked above: moved by organization (the hold's, then the platform's when it differs).
    SELECT x.org_id INTO v_debit_org FROM unnest(v_accounts) x WHERE x.id = v_debit;
    SELECT x.org_id INTO v_credit_org FROM unnest(v_accounts) x WHERE x.id = v_credit;
    FOREACH v_who IN ARRAY CASE WHEN v_debit_org = v_credit_org THEN ARRAY[v_debit_org]
                                ELSE ARRAY[v_debit_org, v_credit_org] END LOOP
        UPDATE payments.accounts
           SET pending_debits = pending_debits + CASE WHEN id = v_debit THEN v_amount ELSE 0 END,
               pending_credits = pending_credits + CASE WHEN id = v_credit THEN v_amount ELSE 0 END,
               version = version + CASE WHEN high_volume THEN 0 ELSE 1 END
         WHERE org_id = v_who AND id IN (v_debit, v_credit);
    END LOOP;
    INSERT INTO payments.holds (id, org_id, debit_account_id, credit_account_id, debit_org_id,
                                credit_org_id, amount, currency, expires_at, description,
                                metadata, idempotency_key)
    VALUES (v_id, p_org, v_debit, v_credit, v_debit_org, v_credit_org,
            v_amount, v_currency, v_expires, coalesce(p ->> 'description', ''),
            coalesce(p -> 'metadata', '{}'::jsonb), p ->> 'key');
    RETURN to_jsonb(v_id);
END
$$;

--
-- Name: fx_rates; Type: TABLE; Schema: payments; Owner: -
--

CREATE TABLE payments.fx_rates (
    id bigint NOT NULL,
    source_currency text NOT NULL,
    target_currency text NOT NULL,
    rate_numerator numeric NOT NULL,
    rate_denominator numeric NOT NULL,
    valid_from timestamp with time zone DEFAULT now() NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT fx_rates_rate_denominator_check CHECK (((rate_denominator > (0)::numeric) AND (rate_denominator < '1000000000000000000'::numeric) AND (rate_denominator = trunc(rate_denominator)))),
    CONSTRAINT fx_rates_rate_numerator_check CHECK (((rate_numerator > (0)::numeric) AND (rate_numerator < '1000000000000000000'::numeric) AND (rate_numerator = trunc(rate_numerator)))),
    CONSTRAINT fx_rates_reduced CHECK ((gcd(rate_numerator, rate_denominator) = (1)::numeric)),
    CONSTRAINT fx_rates_two_currencies CHECK ((source_currency <> target_currency))
);

--
-- Name: _current_fx_rate(text, text); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments._current_fx_rate(p_source text, p_target text) RETURNS payments.fx_rates
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT * FROM payments.fx_rates
     WHERE source_currency = p_source AND target_currency = p_target AND valid_from <= now()
     ORDER BY valid_from DESC, id DESC LIMIT 1
$$;

--
-- Name: _engine_unchecked(); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments._engine_unchecked() RETURNS boolean
    LANGUAGE plpgsql IMMUTABLE
    AS $$
BEGIN
    RETURN NOT coalesce(pg_catalog.texteq(
        pg_catalog.current_setting('payments.engine_checked', true), 'on'), false);
END
$$;

--
-- Name: _epoch_us(timestamp with time zone); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments._epoch_us(p timestamp with time zone) RETURNS bigint
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
    SELECT (extract(epoch FROM p) * 1000000)::bigint
$$;

--
-- Name: _fail(text, jsonb); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments._fail(p_code text, p_details jsonb) RETURNS void
    LANGUAGE plpgsql
    AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'LX001', MESSAGE = p_code, DETAIL = p_details::text;
END
$$;

--
-- Name: _high_volume_row_takes(text, boolean, boolean, bigint, bigint, text); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments._high_volume_row_takes(p_currency text, p_closed boolean, p_large_unrolled boolean, p_posted_debits bigint, p_posted_credits bigint, p_entry_currency text) RETURNS boolean
    LANGUAGE sql IMMUTABLE
    AS $$
    SELECT p_currency = p_entry_currency AND NOT p_closed AND NOT p_large_unrolled
       AND p_posted_debits < 2305843009213693952 AND p_posted_credits < 2305843009213693952
$$;

--
-- Name: hold_resolutions; Type: TABLE; Schema: payments; Owner: -
--

CREATE TABLE payments.hold_resolutions (
    hold_id uuid NOT NULL,
    org_id uuid NOT NULL,
    kind text NOT NULL,
    posted_amount bigint DEFAULT 0 NOT NULL,
    entry_id uuid,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    idempotency_key text,
    CONSTRAINT hold_resolutions_amount_only_when_posted CHECK (((kind = 'posted'::text) = (posted_amount > 0))),
    CONSTRAINT hold_resolutions_kind_check CHECK ((kind = ANY (ARRAY['posted'::text, 'voided'::text, 'expired'::text]))),
    CONSTRAINT hold_resolutions_posted_amount_check CHECK ((posted_amount >= 0)),
    CONSTRAINT hold_resolutions_posted_has_entry CHECK (((kind = 'posted'::text) = (entry_id IS NOT NULL)))
);

--
-- Name: holds; Type: TABLE; Schema: payments; Owner: -
--

CREATE TABLE payments.holds (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    org_id uuid NOT NULL,
    debit_account_id uuid NOT NULL,
    credit_account_id uuid NOT NULL,
    debit_org_id uuid NOT NULL,
    credit_org_id uuid NOT NULL,
    amount bigint NOT NULL,
    currency text NOT NULL,
    expires_at timestamp with time zone,
    description text DEFAULT ''::text NOT NULL,
    metadata jsonb DEFAULT '{}'::jsonb NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    idempotency_key text,
    CONSTRAINT holds_amount_check CHECK ((amount > 0)),
    CONSTRAINT holds_two_accounts CHECK ((debit_account_id <> credit_account_id))
);

--
-- Name: _hold_event(payments.holds, text, payments.hold_resolutions); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments._hold_event(h payments.holds, p_status text, r payments.hold_resolutions) RETURNS jsonb
    LANGUAGE sql STABLE
    AS $$
    SELECT jsonb_build_object(
        'hold_id', h.id, 'org_id', h.org_id, 'status', p_status,
        'debit_account_id', h.debit_account_id, 'credit_account_id', h.credit_account_id,
        'amount', h.amount, 'currency', h.currency,
        'expires_at', payments._utc_text(h.expires_at), 'description', h.description,
        'metadata', h.metadata, 'posted_amount', coalesce(r.posted_amount, 0),
        'entry_id', r.entry_id,
        'occurred_at', payments._utc_text(coalesce(r.created_at, h.created_at)))
$$;

--
-- Name: _line_difference(bigint[], bytea[], bigint[], bytea[]); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments._line_difference(p_ids bigint[], p_hashes bytea[], p_now_ids bigint[], p_now_hashes bytea[]) RETURNS TABLE(kind text, line_id bigint)
    LANGUAGE plpgsql IMMUTABLE
    AS $$
DECLARE
    n int := greatest(cardinality(p_ids), cardinality(p_now_ids));
BEGIN
    FOR i IN 1..n LOOP
        CONTINUE WHEN p_ids[i] IS NOT DISTINCT FROM p_now_ids[i]
                  AND p_hashes[i] IS NOT DISTINCT FROM p_now_hashes[i];
        IF p_ids[i] IS NOT NULL AND NOT p_ids[i] = ANY (coalesce(p_now_ids, '{}')) THEN
            RETURN QUERY SELECT 'line_missing', p_ids[i];
        ELSIF p_now_ids[i] IS NOT NULL AND NOT p_now_ids[i] = ANY (p_ids) THEN
            RETURN QUERY SELECT 'line_added', p_now_ids[i];
        ELSE
            RETURN QUERY SELECT 'line_changed', coalesce(p_ids[i], p_now_ids[i]);
        END IF;
        RETURN;
    END LOOP;
END
$$;

--
-- Name: _lock_accounts(uuid, uuid[], boolean, uuid[]); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments._lock_accounts(p_org uuid, p_ids uuid[], p_lock_high_volume boolean, p_large uuid[]) RETURNS payments._account[]
    LANGUAGE plpgsql
    SET plan_cache_mode TO 'force_generic_plan'
    AS $$
DECLARE
    v_accounts payments._account[] := '{}';
    v_who uuid := p_org;
    v_wanted int := (SELECT count(DISTINCT i) FROM unnest(p_ids) i);
    v_large uuid[] := coalesce(p_large, '{}');
    v_missing uuid;
BEGIN
    -- A line naming no account (a raw caller's): refused, not dropped (count(DISTINCT)
    -- above ignores NULL, and the line would be left out of the entry).
    IF array_position(p_ids, NULL) IS NOT NULL THEN
        PERFORM payments._fail('account_not_found', jsonb_build_object('account_id', NULL::uuid));
    END IF;
    LOOP
        SELECT v_accounts || coalesce(array_agg(ROW(a.id, a.org_id, a.currency, a.normal_side,
                             a.debits_must_not_exceed_credits, a.credits_must_not_exceed_debits,
                             a.high_volume, a.closed, a.posted_debits, a.posted_credits,
                             a.pending_debits, a.pending_credits, a.version)::payments._account),
                         '{}')
          INTO v_accounts
          FROM (SELECT * FROM payments.accounts
                 WHERE org_id = v_who AND id = ANY (p_ids)
                   AND (p_lock_high_volume OR NOT high_volume OR id = ANY (v_large))
                 ORDER BY id
                   FOR NO KEY UPDATE) a;
        IF NOT p_lock_high_volume THEN
            SELECT v_accounts || coalesce(array_agg(ROW(a.id, a.org_id, a.currency,
                             a.normal_side, a.debits_must_not_exceed_credits,
                             a.credits_must_not_exceed_debits, a.high_volume, a.closed,
                             a.posted_debits, a.posted_credits, a.pending_debits,
                             a.pending_credits, a.version)::payments._account), '{}')
              INTO v_accounts
              FROM payments.accounts a
             WHERE a.org_id = v_who AND a.id = ANY (p_ids) AND a.high_volume
               AND NOT a.id = ANY (v_large);
        END IF;
        -- The platform's accounts, after the organization's, only when some are still
        -- missing and the caller may use them (not an organization acting for itself).
        EXIT WHEN v_who <> p_org OR cardinality(v_accounts) >= v_wanted
               OR payments.current_org_id() IS NOT NULL;
        SELECT o.id INTO v_who FROM payments.organizations o WHERE o.is_platform;
        EXIT WHEN v_who IS NULL OR v_who = p_org;
    END LOOP;
    IF cardinality(v_accounts) < v_wanted THEN
        -- Refused: which way is read by id alone (not a hot path). An id that is no
        -- account's first; then another organization's account: to an organization acting
        -- for itself it does not exist.
        SELECT i INTO v_missing FROM unnest(p_ids) WITH ORDINALITY AS x(i, n)
         WHERE NOT EXISTS (SELECT FROM unnest(v_accounts) a WHERE a.id = x.i)
         ORDER BY EXISTS (SELECT FROM payments.accounts b WHERE b.id = x.i), x.n
         LIMIT 1;
        IF payments.current_org_id() IS NOT NULL
           OR NOT EXISTS (SELECT FROM payments.accounts b WHERE b.id = v_missing) THEN
            PERFORM payments._fail('account_not_found', jsonb_build_object('account_id', v_missing));
        END IF;
        PERFORM payments._fail('account_organization_mismatch',
            jsonb_build_object('account_id', v_missing, 'org_id', p_org));
    END IF;
    RETURN v_accounts;
END
$$;

--
-- Name: _mark_monitored(uuid); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments._mark_monitored(p_account uuid) RETURNS void
    LANGUAGE sql
    AS $$
    UPDATE payments.accounts a
       SET monitored = x.live
      FROM (SELECT EXISTS (SELECT FROM payments.balance_monitors m
                            WHERE m.account_id = p_account AND m.deleted_at IS NULL) AS live) x
     WHERE a.id = p_account AND a.monitored IS DISTINCT FROM x.live
$$;

--
-- Name: _missing_reference(text, text, text); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments._missing_reference(p_table text, p_constraint text, p_key text) RETURNS void
    LANGUAGE plpgsql
    AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation', SCHEMA = 'payments',
        TABLE = p_table, CONSTRAINT = p_constraint,
        MESSAGE = format('insert on table "%s" violates foreign key constraint "%s"',
                         p_table, p_constraint),
        DETAIL = format('Key %s is not present.', p_key);
END
$$;

--
-- Name: _monitor_holds(text, numeric, bigint); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments._monitor_holds(p_operator text, p_balance numeric, p_value bigint) RETURNS boolean
    LANGUAGE sql IMMUTABLE
    AS $$
    SELECT CASE p_operator
        WHEN '<' THEN p_balance < p_value WHEN '<=' THEN p_balance <= p_value
        WHEN '>' THEN p_balance > p_value WHEN '>=' THEN p_balance >= p_value
        WHEN '=' THEN p_balance = p_value ELSE p_balance <> p_value END
$$;

--
-- Name: balance_monitors; Type: TABLE; Schema: payments; Owner: -
--

CREATE TABLE payments.balance_monitors (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    org_id uuid NOT NULL,
    account_id uuid NOT NULL,
    balance text NOT NULL,
    operator text NOT NULL,
    value bigint NOT NULL,
    description text DEFAULT ''::text NOT NULL,
    triggered boolean NOT NULL,
    changed_version bigint NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    deleted_at timestamp with time zone,
    idempotency_key text,
    request_hash text,
    CONSTRAINT balance_monitors_balance_check CHECK ((balance = ANY (ARRAY['posted'::text, 'pending'::text, 'available'::text]))),
    CONSTRAINT balance_monitors_description_check CHECK ((length(description) <= 1000)),
    CONSTRAINT balance_monitors_idempotency_key_check CHECK ((idempotency_key <> ''::text)),
    CONSTRAINT balance_monitors_operator_check CHECK ((operator = ANY (ARRAY['<'::text, '<='::text, '>'::text, '>='::text, '='::text, '!='::text])))
);

--
-- Name: _monitor_view(payments.balance_monitors, numeric, bigint); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments._monitor_view(m payments.balance_monitors, p_current numeric, p_version bigint) RETURNS jsonb
    LANGUAGE sql STABLE
    AS $$
    SELECT jsonb_build_object(
        'monitor_id', m.id, 'org_id', m.org_id, 'account_id', m.account_id,
        'balance', m.balance, 'operator', m.operator, 'value', m.value,
        'description', m.description, 'current', p_current, 'account_version', p_version,
        'occurred_at', payments._utc_text(clock_timestamp()))
$$;

--
-- Name: accounts; Type: TABLE; Schema: payments; Owner: -
--

CREATE TABLE payments.accounts (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    org_id uuid NOT NULL,
    code text NOT NULL,
    name text NOT NULL,
    type text NOT NULL,
    normal_side text NOT NULL,
    currency text NOT NULL,
    debits_must_not_exceed_credits boolean DEFAULT false NOT NULL,
    credits_must_not_exceed_debits boolean DEFAULT false NOT NULL,
    high_volume boolean DEFAULT false NOT NULL,
    closed boolean DEFAULT false NOT NULL,
    monitored boolean DEFAULT false NOT NULL,
    large_unrolled boolean DEFAULT false NOT NULL,
    metadata jsonb DEFAULT '{}'::jsonb NOT NULL,
    posted_debits payments.account_count DEFAULT 0 NOT NULL,
    posted_credits payments.account_count DEFAULT 0 NOT NULL,
    pending_debits payments.account_count DEFAULT 0 NOT NULL,
    pending_credits payments.account_count DEFAULT 0 NOT NULL,
    version payments.account_count DEFAULT 0 NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    idempotency_key text
)
WITH (fillfactor='70');
ALTER TABLE ONLY payments.accounts ALTER COLUMN org_id SET (n_distinct=-0.015625);

--
-- Name: _monitored_balance(payments.accounts, text); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments._monitored_balance(a payments.accounts, p_balance text) RETURNS numeric
    LANGUAGE sql IMMUTABLE
    AS $$
    SELECT CASE p_balance
        WHEN 'posted' THEN s * (a.posted_debits::numeric - a.posted_credits)
        WHEN 'pending' THEN s * ((a.posted_debits::numeric + a.pending_debits)
                                 - (a.posted_credits::numeric + a.pending_credits))
        ELSE CASE WHEN a.normal_side = 'debit'
                  THEN a.posted_debits::numeric - a.posted_credits - a.pending_credits
                  ELSE a.posted_credits::numeric - a.posted_debits - a.pending_debits END
    END
      FROM (SELECT CASE WHEN a.normal_side = 'debit' THEN 1 ELSE -1 END AS s) k
$$;

--
-- Name: _open_account(uuid, jsonb); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments._open_account(p_org uuid, p jsonb) RETURNS jsonb
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_id uuid;
BEGIN
    IF NOT EXISTS (SELECT FROM payments.currencies WHERE code = p ->> 'currency') THEN
        PERFORM payments._fail('unknown_currency', jsonb_build_object('currency', p ->> 'currency'));
    END IF;
    INSERT INTO payments.accounts (org_id, code, name, type, currency,
                                   debits_must_not_exceed_credits, credits_must_not_exceed_debits,
                                   high_volume, metadata, idempotency_key)
    VALUES (p_org, p ->> 'code', coalesce(p ->> 'name', p ->> 'code'), p ->> 'type',
            p ->> 'currency',
            coalesce((p ->> 'debits_must_not_exceed_credits')::boolean, false),
            coalesce((p ->> 'credits_must_not_exceed_debits')::boolean, false),
            coalesce((p ->> 'high_volume')::boolean, false),
            coalesce(p -> 'metadata', '{}'::jsonb), p ->> 'key')
    RETURNING id INTO v_id;
    RETURN to_jsonb(v_id);
END
$$;

--
-- Name: _open_hold(uuid, uuid); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments._open_hold(p_org uuid, p_hold uuid) RETURNS payments.holds
    LANGUAGE plpgsql
    AS $$
DECLARE
    h payments.holds;
    v_kind text;
BEGIN
    SELECT * INTO h FROM payments.holds WHERE id = p_hold AND org_id = p_org FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM payments._fail('hold_not_found', jsonb_build_object('hold_id', p_hold));
    END IF;
    SELECT kind INTO v_kind FROM payments.hold_resolutions
     WHERE hold_id = p_hold AND org_id = p_org;
    IF FOUND THEN
        PERFORM payments._fail('hold_already_' || v_kind,
            jsonb_build_object('hold_id', p_hold, 'resolution', v_kind));
    END IF;
    RETURN h;
END
$$;

--
-- Name: _owner_role(name); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments._owner_role(p_owner name) RETURNS boolean
    LANGUAGE sql STABLE
    AS $$
    SELECT pg_catalog.pg_has_role(
        CASE WHEN pg_catalog.current_setting('role') = 'none' THEN session_user::text
             ELSE pg_catalog.current_setting('role') END::name,
        p_owner, 'USAGE')
$$;

--
-- Name: _post(uuid, jsonb); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments._post(p_org uuid, p_entries jsonb) RETURNS jsonb
    LANGUAGE plpgsql
    SET plan_cache_mode TO 'force_generic_plan'
    AS $$
DECLARE
    v_now timestamptz;
    v_entries jsonb;
    v_lines payments._line[];
    v_accounts payments._account[];
    v_ids uuid[];
    v_large uuid[];  -- the accounts given a line of 2**40 or more: locked (_lock_accounts)
    v_rev record;
    v_bad record;
    v_run payments._run[];
    v_who uuid;
BEGIN
    SELECT jsonb_agg(e.x || jsonb_build_object('id', uuidv7(), 'ord', e.ord)
                     ORDER BY e.ord)
      INTO v_entries
      FROM jsonb_array_elements(p_entries) WITH ORDINALITY AS e(x, ord);

    -- A reversal names an entry of this organization that was never reversed.
    FOR v_rev IN
        SELECT (e.x ->> 'reverses')::uuid AS original, o.id AS found, r.id AS reversal
          FROM jsonb_array_elements(v_entries) e(x)
          LEFT JOIN payments.entries o ON o.id = (e.x ->> 'reverses')::uuid AND o.org_id = p_org
          LEFT JOIN payments.entries r ON r.reverses_entry_id = o.id AND r.org_id = p_org
         WHERE e.x ->> 'reverses' IS NOT NULL
    LOOP
        IF v_rev.found IS NULL THEN
            PERFORM payments._fail('entry_not_found', jsonb_build_object('entry_id', v_rev.original));
        ELSIF v_rev.reversal IS NOT NULL THEN
            PERFORM payments._fail('entry_already_reversed', jsonb_build_object(
                'entry_id', v_rev.original, 'reversal_entry_id', v_rev.reversal));
        END IF;
    END LOOP;

    -- The lines: as given, or for a reversal the original's with the sides swapped.
    SELECT array_agg(ROW(e.ord, l.ord, (e.x ->> 'id')::uuid, l.account_id, l.side, l.amount,
                         l.currency,
                         (e.x ->> 'effective_at')::timestamptz)::payments._line
                     ORDER BY e.ord, l.ord)
      INTO v_lines
      FROM (SELECT (x ->> 'ord')::int AS ord, x FROM jsonb_array_elements(v_entries) x) e
     CROSS JOIN LATERAL (
            SELECT g.ord::int AS ord, (g.x ->> 'account_id')::uuid AS account_id,
                   g.x ->> 'side' AS side, (g.x ->> 'amount')::bigint AS amount,
                   g.x ->> 'currency' AS currency
              FROM jsonb_array_elements(coalesce(e.x -> 'lines', '[]')) WITH ORDINALITY g(x, ord)
             WHERE e.x ->> 'reverses' IS NULL
            UNION ALL
            SELECT row_number() OVER (ORDER BY o.id)::int, o.account_id,
                   CASE o.side WHEN 'debit' THEN 'credit' ELSE 'debit' END, o.amount, o.currency
              FROM payments.lines o
             WHERE e.x ->> 'reverses' IS NOT NULL AND o.entry_id = (e.x ->> 'reverses')::uuid
               AND o.entry_org_id = p_org
     ) l;

    -- Lines counted once per entry (a count per entry over every line was quadratic: a third
    -- of a 500-entry batch's server time).
    SELECT e.ord INTO v_bad
      FROM (SELECT (x ->> 'ord')::int AS ord FROM jsonb_array_elements(v_entries) x) e
      LEFT JOIN (SELECT l.entry_ord, count(*) AS n FROM unnest(v_lines) l GROUP BY l.entry_ord) c
             ON c.entry_ord = e.ord
     WHERE coalesce(c.n, 0) < 2
     ORDER BY e.ord
     LIMIT 1;
    IF FOUND THEN
        PERFORM payments._fail('too_few_lines', jsonb_build_object('entry', v_bad.ord));
    END IF;
    SELECT array_agg(DISTINCT l.account_id),
           array_agg(DISTINCT l.account_id) FILTER (WHERE l.amount >= 1099511627776)
      INTO v_ids, v_large
      FROM unnest(v_lines) l;
    v_accounts := payments._lock_accounts(p_org, v_ids, false, v_large);
    -- The time the entries are recorded at, read once their accounts are locked: a later
    -- writer of an account waits for this transaction, so each regular account's lines are
    -- recorded in version order, and "as of t" is one index probe (balance_as_of).
    v_now := clock_timestamp();

    -- Currency and closed accounts, first offending line first.
    SELECT l.entry_ord, l.account_id, l.currency AS line_currency, a.currency AS account_currency,
           a.closed
      INTO v_bad
      FROM unnest(v_lines) l JOIN unnest(v_accounts) a ON a.id = l.account_id
     WHERE a.currency <> l.currency OR a.closed
     ORDER BY l.entry_ord, l.line_ord
     LIMIT 1;
    IF FOUND THEN
        IF v_bad.line_currency <> v_bad.account_currency THEN
            PERFORM payments._fail('currency_mismatch', jsonb_build_object(
                'account_id', v_bad.account_id, 'account_currency', v_bad.account_currency,
                'line_currency', v_bad.line_currency));
        END IF;
        PERFORM payments._fail('account_closed', jsonb_build_object('account_id', v_bad.account_id));
    END IF;

    -- Running positions of the accounts, line by line in request order.
    SELECT array_agg(r.x ORDER BY r.entry_ord, r.line_ord) INTO v_run
      FROM (SELECT l.entry_ord, l.line_ord, ROW(
                   l.entry_ord, l.line_ord, l.entry_id, l.account_id, l.side, l.amount,
                   l.currency, l.effective_at, a.org_id, a.high_volume, a.normal_side,
                   a.debits_must_not_exceed_credits, a.credits_must_not_exceed_debits,
                   a.pending_debits, a.pending_credits,
                   a.posted_debits + sum(CASE WHEN l.side = 'debit' THEN l.amount ELSE 0 END) OVER w,
                   a.posted_credits + sum(CASE WHEN l.side = 'credit' THEN l.amount ELSE 0 END) OVER w,
                   a.version + row_number() OVER w,
                   row_number() OVER (PARTITION BY l.entry_ord, l.account_id ORDER BY l.line_ord DESC) = 1,
                   row_number() OVER (PARTITION BY l.entry_ord, l.account_id ORDER BY l.line_ord) = 1
                   )::payments._run AS x
              FROM unnest(v_lines) l JOIN unnest(v_accounts) a ON a.id = l.account_id
            WINDOW w AS (PARTITION BY l.account_id ORDER BY l.entry_ord, l.line_ord)) r;

    PERFORM payments._check_positions(v_entries, v_run);

    -- The entries and their lines in one statement: the balance rule judges them there.
    WITH e AS (
        INSERT INTO payments.entries (id, org_id, kind, description, metadata, effective_at,
                                      created_at, external_ref, reverses_entry_id, hold_id,
                                      idempotency_key)
        SELECT (x ->> 'id')::uuid, p_org, coalesce(x ->> 'kind', 'standard'),
               coalesce(x ->> 'description', ''), coalesce(x -> 'metadata', '{}'::jsonb),
               coalesce((x ->> 'effective_at')::timestamptz, v_now), v_now, x ->> 'external_ref',
               (x ->> 'reverses')::uuid, (x ->> 'hold_id')::uuid, x ->> 'key'
          FROM jsonb_array_elements(v_entries) x
         ORDER BY (x ->> 'ord')::int
    )
    INSERT INTO payments.lines (entry_id, entry_org_id, org_id, account_id, side, amount,
                                currency, effective_at, created_at, account_version,
                                account_posted_debits, account_posted_credits)
    SELECT entry_id, p_org, org_id, account_id, side, amount, currency,
           coalesce(effective_at, v_now), v_now,
           CASE WHEN high_volume THEN NULL ELSE version END,
           CASE WHEN high_volume THEN NULL ELSE posted_debits::bigint END,
           CASE WHEN high_volume THEN NULL ELSE posted_credits::bigint END
      FROM unnest(v_run)
     ORDER BY entry_ord, line_ord;

    -- The regular accounts moved by organization (docs/engine.md's order): the
    -- organization's, then the platform's when the entries name any.
    v_who := p_org;
    WHILE v_who IS NOT NULL LOOP
        UPDATE payments.accounts a
           SET posted_debits = a.posted_debits + d.debits,
               posted_credits = a.posted_credits + d.credits,
               version = a.version + d.n
          FROM (SELECT account_id,
                       sum(CASE WHEN side = 'debit' THEN amount ELSE 0 END)::bigint AS debits,
                       sum(CASE WHEN side = 'credit' THEN amount ELSE 0 END)::bigint AS credits,
                       count(*) AS n
                  FROM unnest(v_run) WHERE NOT high_volume AND org_id = v_who
                 GROUP BY account_id) d
         WHERE a.org_id = v_who AND a.id = d.account_id;
        EXIT WHEN v_who <> p_org;
        v_who := (SELECT r.org_id FROM unnest(v_run) r
                   WHERE NOT r.high_volume AND r.org_id <> p_org LIMIT 1);
    END LOOP;

    RETURN (SELECT jsonb_agg(x -> 'id' ORDER BY (x ->> 'ord')::int)
              FROM jsonb_array_elements(v_entries) x);
END
$$;

--
-- Name: _post_hold(uuid, jsonb); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments._post_hold(p_org uuid, p jsonb) RETURNS jsonb
    LANGUAGE plpgsql
    AS $$
DECLARE
    h payments.holds := payments._open_hold(p_org, (p ->> 'hold_id')::uuid);
    v_amount bigint := coalesce((p ->> 'amount')::bigint, h.amount);
    v_entry jsonb;
BEGIN
    IF h.expires_at IS NOT NULL AND h.expires_at <= now() THEN
        PERFORM payments._fail('hold_expired',
            jsonb_build_object('hold_id', h.id, 'expires_at', h.expires_at));
    END IF;
    IF v_amount > h.amount THEN
        PERFORM payments._fail('hold_amount_exceeded',
            jsonb_build_object('hold_id', h.id, 'held', h.amount, 'requested', v_amount));
    END IF;
    PERFORM payments._release_pending(h);
    v_entry := payments._post(p_org, jsonb_build_array(jsonb_build_object(
        'kind', 'hold_post', 'hold_id', h.id, 'key', p ->> 'key',
        'description', coalesce(p ->> 'description', h.description),
        'metadata', coalesce(p -> 'metadata', h.metadata),
        'effective_at', p ->> 'effective_at',
        'lines', jsonb_build_array(
            jsonb_build_object('account_id', h.debit_account_id, 'side', 'debit',
                               'amount', v_amount, 'currency', h.currency),
            jsonb_build_object('account_id', h.credit_account_id, 'side', 'credit',
                               'amount', v_amount, 'currency', h.currency)))));
    INSERT INTO payments.hold_resolutions (hold_id, org_id, kind, posted_amount, entry_id,
                                           idempotency_key)
    VALUES (h.id, p_org, 'posted', v_amount, (v_entry ->> 0)::uuid, p ->> 'key');
    RETURN v_entry -> 0;
END
$$;

--
-- Name: _publish_hold_created(); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments._publish_hold_created() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    PERFORM messaging.publish(NEW.org_id, 'ledger.hold.created', 'hold', NEW.id::text,
                              payments._hold_event(NEW, 'created', NULL),
                              'ledger.hold.created:' || NEW.id);
    RETURN NULL;
END
$$;

--
-- Name: _publish_hold_resolved(); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments._publish_hold_resolved() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    h payments.holds;
BEGIN
    SELECT * INTO h FROM payments.holds WHERE id = NEW.hold_id;
    PERFORM messaging.publish(NEW.org_id, 'ledger.hold.' || NEW.kind, 'hold', NEW.hold_id::text,
                              payments._hold_event(h, NEW.kind, NEW),
                              'ledger.hold.' || NEW.kind || ':' || NEW.hold_id);
    RETURN NULL;
END
$$;

--
-- Name: _regular_row_takes(text, boolean, bigint, bigint, bigint, bigint, boolean, boolean, text, numeric, numeric); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments._regular_row_takes(p_currency text, p_closed boolean, p_posted_debits bigint, p_posted_credits bigint, p_pending_debits bigint, p_pending_credits bigint, p_debits_limited boolean, p_credits_limited boolean, p_entry_currency text, p_debits numeric, p_credits numeric) RETURNS boolean
    LANGUAGE sql IMMUTABLE
    AS $$
    SELECT p_currency = p_entry_currency AND NOT p_closed
       AND p_posted_debits::numeric + p_debits <= 9223372036854775807
       AND p_posted_credits::numeric + p_credits <= 9223372036854775807
       AND (NOT p_debits_limited
            OR p_posted_debits::numeric + p_pending_debits + p_debits
               <= p_posted_credits::numeric + p_credits)
       AND (NOT p_credits_limited
            OR p_posted_credits::numeric + p_pending_credits + p_credits
               <= p_posted_debits::numeric + p_debits)
$$;

--
-- Name: _release_pending(payments.holds); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments._release_pending(p_hold payments.holds) RETURNS void
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF (p_hold.debit_org_id <> p_hold.org_id, p_hold.debit_account_id)
       < (p_hold.credit_org_id <> p_hold.org_id, p_hold.credit_account_id) THEN
        UPDATE payments.accounts
           SET pending_debits = pending_debits - p_hold.amount,
               version = version + CASE WHEN high_volume THEN 0 ELSE 1 END
         WHERE id = p_hold.debit_account_id AND org_id = p_hold.debit_org_id;
        UPDATE payments.accounts
           SET pending_credits = pending_credits - p_hold.amount,
               version = version + CASE WHEN high_volume THEN 0 ELSE 1 END
         WHERE id = p_hold.credit_account_id AND org_id = p_hold.credit_org_id;
    ELSE
        UPDATE payments.accounts
           SET pending_credits = pending_credits - p_hold.amount,
               version = version + CASE WHEN high_volume THEN 0 ELSE 1 END
         WHERE id = p_hold.credit_account_id AND org_id = p_hold.credit_org_id;
        UPDATE payments.accounts
           SET pending_debits = pending_debits - p_hold.amount,
               version = version + CASE WHEN high_volume THEN 0 ELSE 1 END
         WHERE id = p_hold.debit_account_id AND org_id = p_hold.debit_org_id;
    END IF;
END
$$;

--
-- Name: _seal_cut(); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments._seal_cut() RETURNS timestamp with time zone
    LANGUAGE sql
    AS $$
    SELECT least(clock_timestamp(), min(a.xact_start))
      FROM pg_stat_activity a
     WHERE a.datid = (SELECT oid FROM pg_database WHERE datname = current_database())
       AND a.pid <> pg_backend_pid() AND a.xact_start IS NOT NULL
       -- Entries come from client sessions (a parallel worker's leader is one, started
       -- earlier); autovacuum and other background processes record none and would only
       -- hold the cut back.
       AND a.backend_type = 'client backend'
$$;

--
-- Name: _trusted_caller(); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments._trusted_caller() RETURNS boolean
    LANGUAGE sql STABLE
    AS $$
    SELECT payments._owner_role((SELECT pg_catalog.pg_get_userbyid(n.nspowner)
                                   FROM pg_catalog.pg_namespace n WHERE n.nspname = 'payments'))
$$;

--
-- Name: _utc(timestamp with time zone); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments._utc(p timestamp with time zone) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    SELECT to_char(p AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;

--
-- Name: _utc_text(timestamp with time zone); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments._utc_text(p timestamp with time zone) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    SELECT to_char(p AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;

--
-- Name: _void_hold(uuid, jsonb); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments._void_hold(p_org uuid, p jsonb) RETURNS jsonb
    LANGUAGE plpgsql
    AS $$
DECLARE
    h payments.holds := payments._open_hold(p_org, (p ->> 'hold_id')::uuid);
BEGIN
    PERFORM payments._release_pending(h);
    INSERT INTO payments.hold_resolutions (hold_id, org_id, kind, idempotency_key)
    VALUES (h.id, p_org, 'voided', p ->> 'key');
    RETURN to_jsonb(h.id);
END
$$;

--
-- Name: _watch_balance(); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments._watch_balance() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    m payments.balance_monitors;
    v_current numeric;
    v_now boolean;
BEGIN
    FOR m IN SELECT * FROM payments.balance_monitors x
              WHERE x.account_id = NEW.id AND x.deleted_at IS NULL
              ORDER BY x.id FOR UPDATE
    LOOP
        v_current := payments._monitored_balance(NEW, m.balance);
        v_now := payments._monitor_holds(m.operator, v_current, m.value);
        CONTINUE WHEN v_now = m.triggered OR NEW.version < m.changed_version;
        UPDATE payments.balance_monitors
           SET triggered = v_now, changed_version = NEW.version
         WHERE id = m.id;
        PERFORM messaging.publish(
            m.org_id,
            CASE WHEN v_now THEN 'ledger.balance_monitor.triggered'
                 ELSE 'ledger.balance_monitor.recovered' END,
            'balance_monitor', m.id::text, payments._monitor_view(m, v_current, NEW.version),
            format('ledger.balance_monitor:%s:%s:%s', m.id, NEW.version, v_now));
    END LOOP;
    RETURN NULL;
END
$$;

--
-- Name: _writer_off(); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments._writer_off() RETURNS boolean
    LANGUAGE plpgsql IMMUTABLE
    AS $$
BEGIN
    RETURN NOT coalesce(pg_catalog.texteq(
        pg_catalog.current_setting('payments.writer', true), 'on'), false);
END
$$;

--
-- Name: act_for(uuid); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments.act_for(p_org uuid) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    PERFORM payments._act_as(coalesce(p_org::text, 'platform'));
END
$$;

--
-- Name: acting_as_platform(); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments.acting_as_platform() RETURNS boolean
    LANGUAGE sql STABLE PARALLEL RESTRICTED
    AS $$ SELECT coalesce(payments.current_actor() = 'platform', false) $$;

--
-- Name: assert_entry_balanced(uuid); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments.assert_entry_balanced(p_entry uuid) RETURNS void
    LANGUAGE plpgsql
    AS $$
DECLARE
    v record;
BEGIN
    SELECT sum(g.n) OVER () AS n, g.currency, g.debits, g.credits
      INTO v
      FROM (SELECT currency, count(*) AS n,
                   coalesce(sum(amount) FILTER (WHERE side = 'debit'), 0) AS debits,
                   coalesce(sum(amount) FILTER (WHERE side = 'credit'), 0) AS credits
              FROM payments.lines WHERE entry_id = p_entry
             GROUP BY currency) g
     ORDER BY g.debits = g.credits, g.currency
     LIMIT 1;
    IF coalesce(v.n, 0) < 2 THEN
        PERFORM payments._fail('too_few_lines',
            jsonb_build_object('entry_id', p_entry, 'count', coalesce(v.n, 0)));
    END IF;
    IF v.debits <> v.credits THEN
        PERFORM payments._fail('unbalanced_entry', jsonb_build_object(
            'entry_id', p_entry, 'currency', v.currency,
            'debits', v.debits, 'credits', v.credits));
    END IF;
END
$$;

--
-- Name: authenticate(text, text, text); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments.authenticate(p_prefix text, p_secret text, p_idempotency_key text) RETURNS TABLE(key_id uuid, org_id uuid, key_scope text, method text, path text, request_sha256 text, status integer, content_type text, response text, location text)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
#variable_conflict use_column
DECLARE
    v_id uuid;
    v_org uuid;
    v_scope text;
BEGIN
    SELECT k.id, k.org_id, k.scope INTO v_id, v_org, v_scope
      FROM payments.api_keys k
     WHERE k.prefix = p_prefix AND k.revoked_at IS NULL
       AND k.secret_sha256 = encode(sha256(convert_to(p_secret, 'UTF8')), 'hex');
    IF NOT FOUND THEN
        RETURN;
    END IF;
    PERFORM payments._act_as(coalesce(v_org::text, 'platform'));
    RETURN QUERY
        SELECT v_id, v_org, v_scope, i.method, i.path, i.request_sha256, i.status,
               i.content_type, i.response::text, i.location
          FROM (SELECT 1) one
          LEFT JOIN payments.api_idempotency i
                 ON i.scope = coalesce(v_org::text, 'platform') AND i.key = p_idempotency_key;
END
$$;

--
-- Name: balance_as_of(uuid, timestamp with time zone, boolean); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments.balance_as_of(p_account uuid, p_at timestamp with time zone, p_effective boolean) RETURNS TABLE(account_id uuid, currency text, normal_side text, posted_debits numeric, posted_credits numeric, pending_debits numeric, pending_credits numeric)
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET enable_sort TO 'off'
    SET enable_seqscan TO 'off'
    AS $$
    SELECT a.id, a.currency, a.normal_side,
           coalesce(p.debits, s.debits, 0) + coalesce(c.debits, 0) + coalesce(u.debits, 0),
           coalesce(p.credits, s.credits, 0) + coalesce(c.credits, 0) + coalesce(u.credits, 0),
           (SELECT coalesce(sum(h.amount), 0) FROM payments.holds h
             WHERE h.debit_account_id = p_account AND h.created_at <= p_at
               AND NOT EXISTS (SELECT FROM payments.hold_resolutions r
                                WHERE r.hold_id = h.id AND r.created_at <= p_at)),
           (SELECT coalesce(sum(h.amount), 0) FROM payments.holds h
             WHERE h.credit_account_id = p_account AND h.created_at <= p_at
               AND NOT EXISTS (SELECT FROM payments.hold_resolutions r
                                WHERE r.hold_id = h.id AND r.created_at <= p_at))
      FROM payments.accounts a
      LEFT JOIN LATERAL (
            SELECT l.account_posted_debits AS debits, l.account_posted_credits AS credits
              FROM payments.lines l
             WHERE NOT a.high_volume AND l.account_id = p_account AND l.created_at <= p_at
               AND l.account_version IS NOT NULL
             ORDER BY l.created_at DESC, l.account_version DESC
             LIMIT 1) p ON true
      LEFT JOIN LATERAL (
            SELECT sum(l.amount) FILTER (WHERE l.side = 'debit') AS debits,
                   sum(l.amount) FILTER (WHERE l.side = 'credit') AS credits
              FROM payments.lines l
             WHERE a.high_volume AND l.account_id = p_account
               AND CASE WHEN p_effective THEN l.effective_at ELSE l.created_at END <= p_at) s
             ON true
      LEFT JOIN LATERAL (
            SELECT sum(CASE WHEN l.effective_at <= p_at THEN l.amount ELSE -l.amount END)
                       FILTER (WHERE l.side = 'debit') AS debits,
                   sum(CASE WHEN l.effective_at <= p_at THEN l.amount ELSE -l.amount END)
                       FILTER (WHERE l.side = 'credit') AS credits
              FROM payments.lines l
             WHERE p_effective AND NOT a.high_volume AND l.account_id = p_account
               AND (l.effective_at <> l.created_at) IS TRUE
               AND (l.effective_at <= p_at) <> (l.created_at <= p_at)
               AND l.account_version IS NOT NULL) c ON true
      LEFT JOIN LATERAL (
            SELECT sum(l.amount) FILTER (WHERE l.side = 'debit') AS debits,
                   sum(l.amount) FILTER (WHERE l.side = 'credit') AS credits
              FROM payments.lines l
             WHERE NOT a.high_volume AND l.account_id = p_account
               AND l.account_version IS NULL
               AND CASE WHEN p_effective THEN l.effective_at ELSE l.created_at END <= p_at) u
             ON true
     WHERE a.id = p_account
$$;

--
-- Name: capture_card_payment(uuid, text, text, text[], integer, bigint, boolean, boolean, boolean, text, text, text, bigint, bigint, bigint, bigint, text, text, text, uuid[], text[], bigint[], text[], text, text, uuid[], uuid[]); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments.capture_card_payment(p_org uuid, p_event text, p_currency text, p_states text[], p_bps integer, p_fixed bigint, p_bears boolean, p_refund_fee boolean, p_policy_stored boolean, p_payment text, p_charge text, p_txn text, p_gross bigint, p_fee bigint, p_stripe_fee bigint, p_share bigint, p_cause text, p_key text, p_hash text, p_accounts uuid[], p_sides text[], p_amounts bigint[], p_currencies text[], p_description text, p_external_ref text, p_organizer_accounts uuid[], p_platform_accounts uuid[]) RETURNS TABLE(capture_outcome text, capture_entry uuid, refusal_code text, refusal_details jsonb)
    LANGUAGE plpgsql ROWS 1
    AS $$
DECLARE
    v_escrow uuid;
    v_state text;
    v_status text;
    v_entry uuid;
    v_replayed boolean;
    v_code text;
    v_details jsonb;
BEGIN
    -- The escrow locked, and the facts checked on it, in one statement (session 32: each
    -- answer was a RETURN QUERY, one more executor start each): the payment not booked, the
    -- escrow in a state the capture leaves as it is, the organizer's terms as read; any other
    -- case answered at once ('booked', 'long', 'stale').
    SELECT e.id, e.state,
           CASE WHEN EXISTS (SELECT 1 FROM payments.card_payments c
                              WHERE c.id = p_payment AND c.org_id = p_org) THEN 'booked'
                WHEN NOT (e.state = ANY (p_states)) THEN 'long'
                WHEN NOT CASE WHEN p_policy_stored
                              THEN EXISTS (SELECT 1 FROM payments.organizer_policies pol
                                            WHERE pol.org_id = p_org
                                              AND pol.platform_fee_bps = p_bps
                                              AND pol.platform_fee_fixed = p_fixed
                                              AND pol.bears_stripe_fees = p_bears
                                              AND pol.refund_platform_fee = p_refund_fee)
                              ELSE NOT EXISTS (SELECT 1 FROM payments.organizer_policies pol
                                                WHERE pol.org_id = p_org) END
                THEN 'stale' END
      INTO v_escrow, v_state, v_status
      FROM payments.escrows e
     WHERE e.org_id = p_org AND e.event_id = p_event AND e.currency = p_currency
       FOR UPDATE OF e;
    IF v_status IS NOT NULL OR v_escrow IS NULL THEN
        capture_outcome := coalesce(v_status, 'long');
        RETURN NEXT;
        RETURN;
    END IF;
    -- The usual entry (the escrow, the organizer's one account, beside the platform's
    -- high-volume ones) by the ledger's writer for it: its id, or NULL having written nothing
    -- (payments_engine.sql). It posts only when each account is found as its organization's
    -- (the organizer's, the platform's), so the accounts' ids are the ones read.
    v_entry := payments.post_capture_entry(p_org, p_key, p_hash, p_accounts, p_sides,
                                           p_amounts, p_currencies, p_description,
                                           p_external_ref, p_organizer_accounts[1],
                                           p_platform_accounts);
    IF v_entry IS NULL THEN
        -- Anything else, through the ledger's door, once the accounts' ids are the ones read
        -- (an account's id never changes for its organization and code; rows deleted and
        -- made again, as a test's emptied database does, would change them): the
        -- organizer's, then the platform's, each read with its own organization. A request
        -- whose ids are the ones the long way would read is the very request it would post,
        -- so a refusal the door records under the key is the one the long way finds there.
        IF NOT ((SELECT count(*) FROM payments.accounts a
                  WHERE a.org_id = p_org AND a.id = ANY (p_organizer_accounts))
                = cardinality(p_organizer_accounts)
                AND (SELECT count(*) FROM payments.accounts a
                      WHERE a.org_id = (SELECT o.id FROM payments.organizations o
                                         WHERE o.is_platform)
                        AND a.id = ANY (p_platform_accounts))
                    = cardinality(p_platform_accounts)) THEN
            capture_outcome := 'stale';
            RETURN NEXT;
            RETURN;
        END IF;
        SELECT d.status, d.id, d.replayed, d.code, d.details
          INTO v_status, v_entry, v_replayed, v_code, v_details
          FROM payments.post_entry(p_org, p_key, p_hash, p_accounts, p_sides, p_amounts,
                                   p_currencies, p_description, NULL, NULL, p_external_ref) d;
        IF v_status = 'failed' THEN
            capture_outcome := 'failed';
            refusal_code := v_code;
            refusal_details := v_details;
            RETURN NEXT;
            RETURN;
        END IF;
        IF v_replayed THEN
            capture_outcome := 'replayed';
            capture_entry := v_entry;
            RETURN NEXT;
            RETURN;
        END IF;
    END IF;
    -- The counters, the audit row and the payment's record in one statement.
    WITH moved AS (
        UPDATE payments.escrows e
           SET captured = e.captured + p_gross, held = e.held + p_share,
               version = e.version + 1, updated_at = now()
         WHERE e.id = v_escrow AND e.org_id = p_org
        RETURNING e.id
    ), audit AS (
        INSERT INTO payments.escrow_transitions
            (escrow_id, org_id, from_state, to_state, event, cause, entry_id)
        SELECT moved.id, p_org, v_state, v_state, 'capture', p_cause, v_entry FROM moved
    )
    INSERT INTO payments.card_payments
        (id, org_id, escrow_id, charge_id, balance_transaction_id, currency, gross,
         platform_fee, stripe_fee, bears_stripe_fees, refund_platform_fee, entry_id)
    SELECT p_payment, p_org, moved.id, p_charge, p_txn, p_currency, p_gross, p_fee,
           p_stripe_fee, p_bears, p_refund_fee, v_entry
      FROM moved;
    capture_outcome := 'captured';
    capture_entry := v_entry;
    RETURN NEXT;
END
$$;

--
-- Name: category_write(jsonb); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments.category_write(p jsonb) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET "payments.engine_checked" TO 'off'
    AS $$
DECLARE
    v_org uuid := (p ->> 'org_id')::uuid;
    v_op text := p ->> 'operation';
    v_key text := p ->> 'key';
    v_stored payments.idempotency_keys;
    v_id uuid;
    v_constraint text;
BEGIN
    IF v_op NOT IN ('create_category', 'add_category_members', 'remove_category_members')
       OR coalesce(v_key, '') = '' OR coalesce(p ->> 'hash', '') = '' THEN
        PERFORM payments._fail('invalid_request', jsonb_build_object('operation', v_op));
    END IF;
    PERFORM payments._check_org(v_org);
    FOR v_attempt IN 1..5 LOOP
        SELECT * INTO v_stored FROM payments.idempotency_keys WHERE org_id = v_org AND key = v_key;
        IF FOUND THEN
            IF v_stored.operation <> v_op OR v_stored.request_hash <> p ->> 'hash' THEN
                PERFORM payments._fail('idempotency_conflict', jsonb_build_object('idempotency_key', v_key));
            END IF;
            RETURN v_stored.result || jsonb_build_object('replayed', true);
        END IF;
        BEGIN
            v_id := CASE v_op
                WHEN 'create_category' THEN payments._create_category(v_org, p)
                WHEN 'add_category_members' THEN payments._change_members(v_org, p, true)
                ELSE payments._change_members(v_org, p, false)
            END;
            INSERT INTO payments.idempotency_keys (org_id, key, operation, request_hash, status, result)
            VALUES (v_org, v_key, v_op, p ->> 'hash', 'succeeded', jsonb_build_object('id', v_id));
            RETURN jsonb_build_object('id', v_id, 'replayed', false);
        EXCEPTION
            WHEN unique_violation THEN
                GET STACKED DIAGNOSTICS v_constraint = CONSTRAINT_NAME;
                IF v_constraint = 'idempotency_keys_pkey' THEN
                    CONTINUE;  -- a concurrent request under the same key won: replay it
                ELSIF v_constraint = 'account_categories_org_code_key' THEN
                    -- A concurrent request under the same key made it first (the chart's
                    -- categories, created by whichever of two first sales commits first):
                    -- replay it; under another key the code is taken.
                    IF EXISTS (SELECT FROM payments.idempotency_keys
                                WHERE org_id = v_org AND key = v_key) THEN
                        CONTINUE;
                    END IF;
                    PERFORM payments._fail('duplicate_category_code', jsonb_build_object(
                        'org_id', v_org, 'category_code', p ->> 'code'));
                END IF;
                RAISE;
            WHEN invalid_text_representation THEN
                PERFORM payments._fail('invalid_request', jsonb_build_object('reason', SQLERRM));
        END;
    END LOOP;
    RAISE EXCEPTION 'category_write: too many retries';
END
$$;

--
-- Name: check_account_rules(); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments.check_account_rules() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_rule text := CASE
        WHEN NEW.code = '' THEN 'accounts_code_check'
        WHEN NEW.type NOT IN ('asset', 'liability', 'equity', 'revenue', 'expense')
            THEN 'accounts_type_check'
        WHEN NEW.debits_must_not_exceed_credits AND NEW.credits_must_not_exceed_debits
            THEN 'accounts_one_overdraft_flag'
        WHEN NEW.high_volume
             AND (NEW.debits_must_not_exceed_credits OR NEW.credits_must_not_exceed_debits)
            THEN 'accounts_high_volume_without_flags'
    END;
BEGIN
    IF v_rule IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation', SCHEMA = 'payments',
            TABLE = 'accounts', CONSTRAINT = v_rule,
            MESSAGE = format('new row for relation "accounts" violates check constraint "%s"',
                             v_rule);
    END IF;
    -- The normal side follows the type (at INSERT; the type never changes after).
    IF TG_OP = 'INSERT' THEN
        NEW.normal_side := CASE WHEN NEW.type IN ('asset', 'expense') THEN 'debit'
                                ELSE 'credit' END;
    END IF;
    RETURN NEW;
END
$$;

--
-- Name: check_category_cycle(); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments.check_category_cycle() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('payments.category_members:' || NEW.org_id, 0));
    IF EXISTS (
        WITH RECURSIVE down(id) AS (
            SELECT NEW.member_category_id
            UNION
            SELECT m.member_category_id FROM payments.category_members m JOIN down ON m.category_id = down.id
             WHERE m.member_category_id IS NOT NULL)
        SELECT FROM down WHERE id = NEW.category_id)
    THEN
        PERFORM payments._fail('category_cycle', jsonb_build_object(
            'category_id', NEW.category_id, 'member_category_id', NEW.member_category_id));
    END IF;
    RETURN NEW;
END
$$;

--
-- Name: check_conversion(); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments.check_conversion() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        RAISE EXCEPTION USING ERRCODE = 'LX002',
            MESSAGE = format('%s on payments.conversions is refused: conversions are append-only', TG_OP);
    END IF;
    IF (SELECT exponent FROM payments.currencies WHERE code = NEW.source_currency) <> NEW.source_exponent
       OR (SELECT exponent FROM payments.currencies WHERE code = NEW.target_currency) <> NEW.target_exponent
       OR NOT EXISTS (SELECT FROM payments.lines l WHERE l.entry_id = NEW.source_entry_id
                         AND l.entry_org_id = NEW.org_id AND l.account_id = NEW.source_account_id
                         AND l.side = 'debit' AND l.amount = NEW.source_amount
                         AND l.currency = NEW.source_currency)
       OR NOT EXISTS (SELECT FROM payments.lines l WHERE l.entry_id = NEW.target_entry_id
                         AND l.entry_org_id = NEW.org_id AND l.account_id = NEW.target_account_id
                         AND l.side = 'credit' AND l.amount = NEW.target_amount
                         AND l.currency = NEW.target_currency)
       -- and each entry moves the amount through the platform's liquidity account
       OR NOT EXISTS (SELECT FROM payments.lines l
                        JOIN payments.accounts a ON a.id = l.account_id
                        JOIN payments.organizations o ON o.id = a.org_id AND o.is_platform
                       WHERE l.entry_id = NEW.source_entry_id
                         AND a.code = 'fx_liquidity:' || lower(NEW.source_currency)
                         AND l.side = 'credit' AND l.amount = NEW.source_amount
                         AND l.currency = NEW.source_currency)
       OR NOT EXISTS (SELECT FROM payments.lines l
                        JOIN payments.accounts a ON a.id = l.account_id
                        JOIN payments.organizations o ON o.id = a.org_id AND o.is_platform
                       WHERE l.entry_id = NEW.target_entry_id
                         AND a.code = 'fx_liquidity:' || lower(NEW.target_currency)
                         AND l.side = 'debit' AND l.amount = NEW.target_amount
                         AND l.currency = NEW.target_currency)
    THEN
        PERFORM payments._fail('invalid_request', jsonb_build_object(
            'reason', 'the conversion does not match its currencies or entries'));
    END IF;
    RETURN NEW;
END
$$;

--
-- Name: check_entry_references(); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments.check_entry_references() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    IF NEW.reverses_entry_id IS NOT NULL
       AND NOT EXISTS (SELECT FROM payments.entries e
                        WHERE e.id = NEW.reverses_entry_id AND e.org_id = NEW.org_id) THEN
        PERFORM payments._missing_reference('entries', 'entries_reverses_entry_id_fkey',
            format('(reverses_entry_id, org_id)=(%s, %s)', NEW.reverses_entry_id, NEW.org_id));
    END IF;
    IF NEW.hold_id IS NOT NULL
       AND NOT EXISTS (SELECT FROM payments.holds h
                        WHERE h.id = NEW.hold_id AND h.org_id = NEW.org_id) THEN
        PERFORM payments._missing_reference('entries', 'entries_hold_id_fkey',
            format('(hold_id, org_id)=(%s, %s)', NEW.hold_id, NEW.org_id));
    END IF;
    RETURN NULL;
END
$$;

--
-- Name: check_new_entry(); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments.check_new_entry() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    IF NOT NEW.kind IN ('standard', 'hold_post', 'reversal') THEN
        PERFORM payments._check_violation('entries', 'entries_kind_check');
    ELSIF NOT (NEW.kind = 'reversal') = (NEW.reverses_entry_id IS NOT NULL) THEN
        PERFORM payments._check_violation('entries', 'entries_reversal_names_entry');
    ELSIF NOT (NEW.kind = 'hold_post') = (NEW.hold_id IS NOT NULL) THEN
        PERFORM payments._check_violation('entries', 'entries_hold_post_names_hold');
    END IF;
    IF NOT EXISTS (SELECT FROM payments.organizations o WHERE o.id = NEW.org_id) THEN
        PERFORM payments._missing_reference('entries', 'entries_org_id_fkey',
                                            format('(org_id)=(%s)', NEW.org_id));
    END IF;
    IF NOT EXISTS (SELECT FROM payments.lines l WHERE l.entry_id = NEW.id) THEN
        INSERT INTO payments.entries_to_check (entry_id, org_id) VALUES (NEW.id, NEW.org_id);
    END IF;
    RETURN NULL;
END
$$;

--
-- Name: check_new_key(); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments.check_new_key() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    IF NOT NEW.key <> '' THEN
        PERFORM payments._check_violation('idempotency_keys', 'idempotency_keys_key_check');
    ELSIF NOT NEW.status IN ('succeeded', 'failed') THEN
        PERFORM payments._check_violation('idempotency_keys', 'idempotency_keys_status_check');
    END IF;
    IF NOT EXISTS (SELECT FROM payments.organizations o WHERE o.id = NEW.org_id) THEN
        PERFORM payments._missing_reference('idempotency_keys', 'idempotency_keys_org_id_fkey',
                                            format('(org_id)=(%s)', NEW.org_id));
    END IF;
    RETURN NULL;
END
$$;

--
-- Name: check_new_line(); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments.check_new_line() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    v_xact xid8;
    v_partial boolean;
    v_up boolean;  -- the high-volume account's overflow hint, under the row's lock
BEGIN
    IF NOT NEW.side IN ('debit', 'credit') THEN
        PERFORM payments._check_violation('lines', 'lines_side_check');
    ELSIF NOT NEW.amount > 0 THEN
        PERFORM payments._check_violation('lines', 'lines_amount_check');
    ELSIF NOT ((NEW.account_version IS NULL) = (NEW.account_posted_debits IS NULL)
               AND (NEW.account_version IS NULL) = (NEW.account_posted_credits IS NULL)) THEN
        PERFORM payments._check_violation('lines', 'lines_position_complete');
    END IF;
    IF NOT EXISTS (SELECT FROM payments.accounts a
                    WHERE a.id = NEW.account_id AND a.org_id = NEW.org_id
                      AND a.currency = NEW.currency) THEN
        PERFORM payments._missing_reference('lines', 'lines_account_fkey', format(
            '(account_id, org_id, currency)=(%s, %s, %s)', NEW.account_id, NEW.org_id,
            NEW.currency));
    END IF;
    -- A large line not rolled up on a high-volume account: the fast doors' overflow hint
    -- (accounts.large_unrolled) is raised on the account's row, in this transaction, under
    -- the row's lock, which is taken even when the hint is up already: the roll-up lowers it
    -- under that lock once it sees no large line unrolled, and this line, uncommitted, it
    -- cannot see. Locked only when still down ("AND NOT large_unrolled"), a second large
    -- line took no lock and a concurrent roll-up lowered the hint under it (review of
    -- 2e5ae69). The row is locked by a SELECT and written only when the hint is down: an
    -- UPDATE each time wrote a new version of the account for every large line (50 in one
    -- entry: 51 versions, review of a9c95d2). The engine's doors lock the row before they
    -- insert the line, in the one lock order (_lock_accounts' p_large), so this waits for
    -- nobody there; a raw writer's waits, in its order.
    IF NEW.account_version IS NULL AND NEW.amount >= 1099511627776 THEN
        SELECT a.large_unrolled INTO v_up FROM payments.accounts a
         WHERE a.id = NEW.account_id AND a.org_id = NEW.org_id AND a.high_volume
           FOR NO KEY UPDATE;
        IF NOT v_up THEN
            UPDATE payments.accounts a SET large_unrolled = true
             WHERE a.id = NEW.account_id AND a.org_id = NEW.org_id;
        END IF;
    END IF;
    -- An entry this transaction can see was posted by it (in it or one of its
    -- subtransactions: created_xact is the top-level id) or by an earlier one.
    SELECT e.created_xact INTO v_xact FROM payments.entries e
     WHERE e.id = NEW.entry_id AND e.org_id = NEW.entry_org_id;
    IF NOT FOUND THEN
        PERFORM payments._missing_reference('lines', 'lines_entry_fkey', format(
            '(entry_id, entry_org_id)=(%s, %s)', NEW.entry_id, NEW.entry_org_id));
    END IF;
    IF v_xact <> pg_current_xact_id() THEN
        INSERT INTO payments.entries_to_check (entry_id, org_id, posted_before)
        VALUES (NEW.entry_id, NEW.entry_org_id, true);
        RETURN NULL;
    END IF;
    SELECT bool_or(g.net <> 0) OR sum(g.n) < 2 INTO v_partial
      FROM (SELECT count(*) AS n,
                   sum(CASE WHEN l.side = 'debit' THEN l.amount ELSE -(l.amount::numeric) END)
                       AS net
              FROM payments.lines l
             WHERE l.entry_id = NEW.entry_id AND l.entry_org_id = NEW.entry_org_id
             GROUP BY l.currency) g;
    IF v_partial THEN
        INSERT INTO payments.entries_to_check (entry_id, org_id)
        VALUES (NEW.entry_id, NEW.entry_org_id);
    END IF;
    RETURN NULL;
END
$$;

--
-- Name: check_queued_entry(); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments.check_queued_entry() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    PERFORM payments.assert_entry_balanced(NEW.entry_id);
    IF NEW.posted_before THEN
        RAISE EXCEPTION USING ERRCODE = 'LX002',
            MESSAGE = format('lines cannot be added to entry %s: it was posted by an earlier'
                             ' transaction, and the ledger is append-only', NEW.entry_id);
    END IF;
    DELETE FROM payments.entries_to_check WHERE entry_id = NEW.entry_id;
    RETURN NULL;
END
$$;

--
-- Name: check_settlement_links(); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments.check_settlement_links() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    v_bad record;
BEGIN
    SELECT n.settlement_id, n.entry_id INTO v_bad
      FROM new_links n JOIN payments.settlements s ON s.id = n.settlement_id
     WHERE n.org_id <> s.org_id
        OR NOT EXISTS (SELECT FROM payments.lines l
                        WHERE l.entry_id = n.entry_id AND l.account_id = n.account_id
                          AND l.created_at <= s.up_to)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'LX002',
            MESSAGE = format('settlement %s cannot cover entry %s: it has no line on the'
                             ' account recorded by the cut-off', v_bad.settlement_id,
                             v_bad.entry_id);
    END IF;
    RETURN NULL;
END
$$;

--
-- Name: convert(jsonb); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments.convert(p jsonb) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    v_org uuid := (p ->> 'org_id')::uuid;
    v_key text := p ->> 'key';
    v_acting uuid := payments.current_org_id();
    v_row payments.conversions;
    v_source payments.accounts;
    v_target payments.accounts;
    v_liq_source uuid;
    v_liq_target uuid;
    v_se smallint;
    v_te smallint;
    v_amount bigint := (p ->> 'source_amount')::bigint;
    v_target_amount bigint := (p ->> 'target_amount')::bigint;
    v_num numeric := (p ->> 'rate_numerator')::numeric;
    v_den numeric := (p ->> 'rate_denominator')::numeric;
    v_rate payments.fx_rates;
    v_exact numeric;
    v_meta jsonb := coalesce(p -> 'metadata', '{}'::jsonb);
    v_result jsonb;
BEGIN
    PERFORM payments._check_org(v_org);
    IF coalesce(v_key, '') = '' OR coalesce(p ->> 'hash', '') = '' OR v_amount IS NULL
       OR v_amount <= 0 OR v_num <= 0 OR v_den <= 0 OR (v_num IS NULL) <> (v_den IS NULL) THEN
        PERFORM payments._fail('invalid_request', jsonb_build_object('reason', 'incomplete conversion'));
    END IF;
    SELECT * INTO v_row FROM payments.conversions WHERE org_id = v_org AND idempotency_key = v_key;
    IF FOUND THEN
        IF v_row.request_hash <> p ->> 'hash' THEN
            PERFORM payments._fail('idempotency_conflict', jsonb_build_object('idempotency_key', v_key));
        END IF;
        RETURN to_jsonb(v_row) || jsonb_build_object('replayed', true);
    END IF;
    SELECT * INTO v_source FROM payments.accounts WHERE id = (p ->> 'source_account_id')::uuid;
    SELECT * INTO v_target FROM payments.accounts WHERE id = (p ->> 'target_account_id')::uuid;
    IF v_source.id IS NULL OR (v_source.org_id <> v_org AND v_acting IS NOT NULL) THEN
        PERFORM payments._fail('account_not_found', jsonb_build_object('account_id', p ->> 'source_account_id'));
    ELSIF v_target.id IS NULL OR (v_target.org_id <> v_org AND v_acting IS NOT NULL) THEN
        PERFORM payments._fail('account_not_found', jsonb_build_object('account_id', p ->> 'target_account_id'));
    ELSIF v_source.org_id <> v_org OR v_target.org_id <> v_org THEN
        PERFORM payments._fail('account_organization_mismatch', jsonb_build_object(
            'account_id', CASE WHEN v_source.org_id <> v_org THEN v_source.id ELSE v_target.id END,
            'org_id', v_org));
    ELSIF v_source.id = v_target.id THEN
        PERFORM payments._fail('accounts_must_be_different', jsonb_build_object(
            'account_ids', jsonb_build_array(v_source.id)));
    ELSIF v_source.currency = v_target.currency THEN
        PERFORM payments._fail('same_currency', jsonb_build_object('currency', v_source.currency));
    END IF;
    SELECT exponent INTO v_se FROM payments.currencies WHERE code = v_source.currency;
    SELECT exponent INTO v_te FROM payments.currencies WHERE code = v_target.currency;
    -- The rate is the platform's (payments.fx_rates), never an organization's: a rate in the
    -- request is its expectation, refused unless it is the current one. Only the platform (or
    -- the owner) converts at a rate it names (a rate it dealt).
    IF v_acting IS NOT NULL OR v_num IS NULL THEN
        v_rate := payments._current_fx_rate(v_source.currency, v_target.currency);
        IF v_rate.id IS NULL THEN
            PERFORM payments._fail('fx_rate_missing', jsonb_build_object(
                'source_currency', v_source.currency, 'target_currency', v_target.currency));
        ELSIF v_num IS NOT NULL AND v_num * v_rate.rate_denominator <> v_den * v_rate.rate_numerator THEN
            PERFORM payments._fail('fx_rate_changed', jsonb_build_object(
                'source_currency', v_source.currency, 'target_currency', v_target.currency,
                'rate', v_rate.rate_numerator || '/' || v_rate.rate_denominator));
        END IF;
        v_num := v_rate.rate_numerator;
        v_den := v_rate.rate_denominator;
    END IF;
    v_exact := div(v_amount * v_num * power(10::numeric, v_te), v_den * power(10::numeric, v_se));
    IF v_exact < 1 THEN
        PERFORM payments._fail('conversion_too_small', jsonb_build_object(
            'amount', v_amount, 'target_currency', v_target.currency));
    ELSIF v_exact > 9223372036854775807 THEN
        PERFORM payments._fail('invalid_amount', jsonb_build_object(
            'value', v_exact::text, 'field', 'target_amount'));
    END IF;
    v_target_amount := coalesce(v_target_amount, v_exact);
    -- Integer division (as the CHECK): numeric's `/` keeps a limited scale and can round a
    -- quotient just below a whole number up to it.
    IF v_target_amount <> v_exact THEN
        PERFORM payments._fail('invalid_request', jsonb_build_object(
            'reason', 'target_amount is not the conversion rounded down'));
    END IF;
    SELECT account_id INTO v_liq_source FROM payments.fx_liquidity_accounts(ARRAY[v_source.currency]);
    SELECT account_id INTO v_liq_target FROM payments.fx_liquidity_accounts(ARRAY[v_target.currency]);
    IF v_liq_source IS NULL OR v_liq_target IS NULL THEN
        PERFORM payments._fail('fx_liquidity_missing', jsonb_build_object('currency',
            CASE WHEN v_liq_source IS NULL THEN v_source.currency ELSE v_target.currency END));
    END IF;
    v_meta := v_meta || jsonb_build_object('conversion', jsonb_build_object(
        'key', v_key, 'rate', v_num || '/' || v_den, 'source_amount', v_amount,
        'target_amount', v_target_amount));
    IF v_acting IS NOT NULL THEN
        PERFORM payments._act_as('platform');
    END IF;
    v_result := payments.ledger_write(jsonb_build_object(
        'org_id', v_org, 'operation', 'post_entries', 'record_failure', false,
        'requests', jsonb_build_array(
            jsonb_build_object(
                'key', 'fx:' || v_key || ':source', 'hash', (p ->> 'hash') || ':source',
                'kind', 'standard', 'description',
                coalesce(nullif(p ->> 'description', ''), 'Conversion to ' || v_target.currency),
                'metadata', v_meta, 'effective_at', NULL, 'external_ref', NULL,
                'conditions', '[]'::jsonb,
                'lines', jsonb_build_array(
                    jsonb_build_object('account_id', v_source.id, 'side', 'debit',
                                       'amount', v_amount, 'currency', v_source.currency),
                    jsonb_build_object('account_id', v_liq_source, 'side', 'credit',
                                       'amount', v_amount, 'currency', v_source.currency))),
            jsonb_build_object(
                'key', 'fx:' || v_key || ':target', 'hash', (p ->> 'hash') || ':target',
                'kind', 'standard', 'description',
                coalesce(nullif(p ->> 'description', ''), 'Conversion from ' || v_source.currency),
                'metadata', v_meta, 'effective_at', NULL, 'external_ref', NULL,
                'conditions', '[]'::jsonb,
                'lines', jsonb_build_array(
                    jsonb_build_object('account_id', v_liq_target, 'side', 'debit',
                                       'amount', v_target_amount, 'currency', v_target.currency),
                    jsonb_build_object('account_id', v_target.id, 'side', 'credit',
                                       'amount', v_target_amount, 'currency', v_target.currency))))));
    IF v_acting IS NOT NULL THEN
        PERFORM payments._act_as(v_acting::text);
    END IF;
    -- Both entries are this conversion's own, never a replay: no conversion holds the key, so
    -- an entry already under fx:<key>:... was posted by someone else (an organization writing
    -- under that key itself) or by a conversion committed meanwhile (answered as its replay).
    IF (v_result -> 'results' -> 0 ->> 'replayed')::boolean
       OR (v_result -> 'results' -> 1 ->> 'replayed')::boolean THEN
        SELECT * INTO v_row FROM payments.conversions WHERE org_id = v_org AND idempotency_key = v_key;
        IF FOUND AND v_row.request_hash = p ->> 'hash' THEN
            RETURN to_jsonb(v_row) || jsonb_build_object('replayed', true);
        END IF;
        PERFORM payments._fail('idempotency_conflict', jsonb_build_object('idempotency_key', v_key));
    END IF;
    INSERT INTO payments.conversions (org_id, idempotency_key, request_hash, source_account_id,
        target_account_id, source_currency, target_currency, source_exponent, target_exponent,
        source_amount, target_amount, rate_numerator, rate_denominator, rate, source_entry_id,
        target_entry_id)
    VALUES (v_org, v_key, p ->> 'hash', v_source.id, v_target.id, v_source.currency,
            v_target.currency, v_se, v_te, v_amount, v_target_amount, v_num, v_den,
            v_num || '/' || v_den,
            (v_result -> 'results' -> 0 ->> 'id')::uuid, (v_result -> 'results' -> 1 ->> 'id')::uuid)
    RETURNING * INTO v_row;
    RETURN to_jsonb(v_row) || jsonb_build_object('replayed', false);
END
$$;

--
-- Name: create_balance_monitor(uuid, jsonb); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments.create_balance_monitor(p_org uuid, p jsonb) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET "payments.monitors" TO 'on'
    AS $$
DECLARE
    a payments.accounts;
    m payments.balance_monitors;
    v_current numeric;
BEGIN
    PERFORM payments._check_org(p_org);
    IF p ->> 'key' IS NOT NULL THEN
        SELECT * INTO m FROM payments.balance_monitors
         WHERE org_id = p_org AND idempotency_key = p ->> 'key';
        IF FOUND THEN
            IF m.request_hash IS DISTINCT FROM p ->> 'hash' THEN
                PERFORM payments._fail('idempotency_conflict',
                    jsonb_build_object('idempotency_key', p ->> 'key'));
            END IF;
            RETURN jsonb_build_object('id', m.id, 'replayed', true);
        END IF;
    END IF;
    IF coalesce(p ->> 'balance', '') NOT IN ('posted', 'pending', 'available')
       OR coalesce(p ->> 'operator', '') NOT IN ('<', '<=', '>', '>=', '=', '!=')
       OR jsonb_typeof(p -> 'value') IS DISTINCT FROM 'number' THEN
        PERFORM payments._fail('invalid_monitor', jsonb_build_object('request', p - 'hash'));
    END IF;
    SELECT * INTO a FROM payments.accounts
     WHERE id = (p ->> 'account_id')::uuid AND org_id = p_org FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        PERFORM payments._fail('account_not_found',
            jsonb_build_object('account_id', p ->> 'account_id'));
    END IF;
    IF a.high_volume THEN
        PERFORM payments._fail('monitor_on_high_volume_account',
            jsonb_build_object('account_id', a.id));
    END IF;
    v_current := payments._monitored_balance(a, p ->> 'balance');
    INSERT INTO payments.balance_monitors (org_id, account_id, balance, operator, value,
                                           description, triggered, changed_version,
                                           idempotency_key, request_hash)
    VALUES (p_org, a.id, p ->> 'balance', p ->> 'operator', (p ->> 'value')::bigint,
            coalesce(p ->> 'description', ''),
            payments._monitor_holds(p ->> 'operator', v_current, (p ->> 'value')::bigint),
            a.version, p ->> 'key', p ->> 'hash')
    RETURNING * INTO m;
    PERFORM payments._mark_monitored(a.id);
    IF m.triggered THEN
        PERFORM messaging.publish(m.org_id, 'ledger.balance_monitor.triggered',
            'balance_monitor', m.id::text, payments._monitor_view(m, v_current, a.version),
            format('ledger.balance_monitor:%s:%s:%s', m.id, a.version, true));
    END IF;
    RETURN jsonb_build_object('id', m.id, 'replayed', false);
END
$$;

--
-- Name: create_settlement(jsonb); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments.create_settlement(p jsonb) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET "payments.engine_checked" TO 'off'
    AS $$
DECLARE
    v_org uuid := (p ->> 'org_id')::uuid;
    v_key text := p ->> 'key';
    v_account payments.accounts;
    v_now timestamptz := clock_timestamp();
    v_up_to timestamptz := coalesce((p ->> 'up_to')::timestamptz, v_now);
    v_ids uuid[];
    v_stored record;
    v_bad record;
    v_totals record;
    v_id uuid;
    v_msg text;
BEGIN
    PERFORM payments._check_org(v_org);
    IF v_key IS NULL OR v_key = '' THEN
        PERFORM payments._fail('invalid_request', jsonb_build_object('reason', 'a key is needed'));
    END IF;
    IF v_up_to > v_now THEN
        PERFORM payments._fail('invalid_request', jsonb_build_object(
            'reason', 'up_to is in the future', 'up_to', v_up_to));
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended('payments.settle:' || (p ->> 'account_id'), 0));
    SELECT k.operation, k.request_hash, k.result INTO v_stored
      FROM payments.idempotency_keys k WHERE k.org_id = v_org AND k.key = v_key;
    IF FOUND THEN
        IF v_stored.operation <> 'create_settlement' OR v_stored.request_hash <> p ->> 'hash' THEN
            PERFORM payments._fail('idempotency_conflict',
                                   jsonb_build_object('idempotency_key', v_key));
        END IF;
        RETURN v_stored.result || jsonb_build_object('replayed', true);
    END IF;
    SELECT * INTO v_account FROM payments.accounts a WHERE a.id = (p ->> 'account_id')::uuid;
    IF NOT FOUND OR v_account.org_id <> v_org THEN
        PERFORM payments._fail('account_not_found',
                               jsonb_build_object('account_id', p ->> 'account_id'));
    END IF;
    IF p -> 'entry_ids' IS NOT NULL AND jsonb_typeof(p -> 'entry_ids') = 'array' THEN
        v_ids := ARRAY(SELECT DISTINCT x::uuid FROM jsonb_array_elements_text(p -> 'entry_ids') x);
        SELECT i AS entry_id, se.settlement_id INTO v_bad
          FROM unnest(v_ids) i
          LEFT JOIN payments.settlement_entries se
                 ON se.account_id = v_account.id AND se.entry_id = i
         WHERE se.entry_id IS NOT NULL
            OR NOT EXISTS (SELECT FROM payments.lines l
                            WHERE l.entry_id = i AND l.account_id = v_account.id
                              AND l.created_at <= v_up_to)
         LIMIT 1;
        IF FOUND AND v_bad.settlement_id IS NOT NULL THEN
            PERFORM payments._fail('entry_already_settled', jsonb_build_object(
                'entry_id', v_bad.entry_id, 'settlement_id', v_bad.settlement_id,
                'account_id', v_account.id));
        ELSIF FOUND THEN
            PERFORM payments._fail('entry_not_settleable', jsonb_build_object(
                'entry_id', v_bad.entry_id, 'account_id', v_account.id, 'up_to', v_up_to));
        END IF;
    ELSE
        v_ids := ARRAY(
            SELECT DISTINCT l.entry_id FROM payments.lines l
             WHERE l.account_id = v_account.id AND l.created_at <= v_up_to
               AND NOT EXISTS (SELECT FROM payments.settlement_entries se
                                WHERE se.account_id = v_account.id
                                  AND se.entry_id = l.entry_id));
    END IF;
    IF cardinality(v_ids) = 0 THEN
        PERFORM payments._fail('nothing_to_settle', jsonb_build_object(
            'account_id', v_account.id, 'up_to', v_up_to));
    END IF;
    SELECT coalesce(sum(l.amount) FILTER (WHERE l.side = 'debit'), 0) AS debits,
           coalesce(sum(l.amount) FILTER (WHERE l.side = 'credit'), 0) AS credits
      INTO v_totals
      FROM payments.lines l
     WHERE l.account_id = v_account.id AND l.entry_id = ANY (v_ids);
    INSERT INTO payments.settlements (org_id, account_id, currency, debits, credits, amount,
                                      entry_count, up_to, description, metadata,
                                      idempotency_key, created_at)
    VALUES (v_org, v_account.id, v_account.currency, v_totals.debits, v_totals.credits,
            CASE WHEN v_account.normal_side = 'debit' THEN v_totals.debits - v_totals.credits
                 ELSE v_totals.credits - v_totals.debits END,
            cardinality(v_ids), v_up_to, coalesce(p ->> 'description', ''),
            coalesce(p -> 'metadata', '{}'::jsonb), v_key, v_now)
    RETURNING id INTO v_id;
    INSERT INTO payments.settlement_entries (settlement_id, account_id, entry_id, org_id)
    SELECT v_id, v_account.id, i, v_org FROM unnest(v_ids) i;
    INSERT INTO payments.idempotency_keys (org_id, key, operation, request_hash, status, result)
    VALUES (v_org, v_key, 'create_settlement', p ->> 'hash', 'succeeded',
            jsonb_build_object('id', v_id));
    RETURN jsonb_build_object('id', v_id, 'replayed', false);
EXCEPTION
    WHEN invalid_text_representation OR invalid_datetime_format
         OR datetime_field_overflow THEN
        GET STACKED DIAGNOSTICS v_msg = MESSAGE_TEXT;
        PERFORM payments._fail('invalid_request', jsonb_build_object('reason', v_msg));
END
$$;

--
-- Name: current_actor(); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments.current_actor() RETURNS text
    LANGUAGE sql STABLE SECURITY DEFINER PARALLEL RESTRICTED
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT CASE WHEN coalesce(a.proof, '') = '' THEN NULL
                WHEN a.proof = payments._actor_proof(a.actor) THEN a.actor END
      FROM (SELECT coalesce(nullif(current_setting('liventix.org_id', true), ''), 'platform')
                   AS actor,
                   current_setting('liventix.actor_proof', true) AS proof) a
$$;

--
-- Name: current_org_id(); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments.current_org_id() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL RESTRICTED
    AS $$ SELECT nullif(payments.current_actor(), 'platform')::uuid $$;

--
-- Name: delete_balance_monitor(uuid, uuid); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments.delete_balance_monitor(p_org uuid, p_id uuid) RETURNS uuid
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET "payments.monitors" TO 'on'
    AS $$
DECLARE
    v_account uuid;
BEGIN
    PERFORM payments._check_org(p_org);
    SELECT account_id INTO v_account FROM payments.balance_monitors
     WHERE id = p_id AND org_id = p_org;
    IF NOT FOUND THEN
        PERFORM payments._fail('monitor_not_found', jsonb_build_object('monitor_id', p_id));
    END IF;
    PERFORM FROM payments.accounts WHERE id = v_account FOR NO KEY UPDATE;
    UPDATE payments.balance_monitors SET deleted_at = coalesce(deleted_at, now())
     WHERE id = p_id;
    PERFORM payments._mark_monitored(v_account);
    RETURN p_id;
END
$$;

--
-- Name: entries; Type: TABLE; Schema: payments; Owner: -
--

CREATE TABLE payments.entries (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    org_id uuid NOT NULL,
    kind text DEFAULT 'standard'::text NOT NULL,
    description text DEFAULT ''::text NOT NULL,
    metadata jsonb DEFAULT '{}'::jsonb NOT NULL,
    effective_at timestamp with time zone DEFAULT now() NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    external_ref text,
    reverses_entry_id uuid,
    hold_id uuid,
    idempotency_key text,
    created_xact xid8 DEFAULT pg_current_xact_id() NOT NULL
);
ALTER TABLE ONLY payments.entries ALTER COLUMN org_id SET (n_distinct=-0.000244140625);

--
-- Name: entry_header_hash(payments.entries); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments.entry_header_hash(e payments.entries) RETURNS bytea
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
    SELECT sha256(convert_to(jsonb_build_array(
        e.id, e.org_id, e.kind, e.description, e.metadata,
        (extract(epoch FROM e.effective_at) * 1000000)::bigint,
        (extract(epoch FROM e.created_at) * 1000000)::bigint, e.external_ref,
        e.reverses_entry_id, e.hold_id, e.idempotency_key)::text, 'UTF8'))
$$;

--
-- Name: expire_holds(integer); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments.expire_holds(p_limit integer DEFAULT 1000) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET enable_seqscan TO 'off'
    AS $$
DECLARE
    v_holds payments.holds[];
    h payments.holds;
    v_platform uuid := (SELECT o.id FROM payments.organizations o WHERE o.is_platform);
    v_org uuid;
BEGIN
    PERFORM payments._check_platform();
    PERFORM set_config('payments.writer', 'on', true);
    -- The due holds from the list of open ones (payments.hold_expiries, by expiry): what
    -- this reads does not grow with the holds resolved before (session 31; it walked
    -- holds_expiry over every hold whose expiry had passed).
    -- Each listed hold is locked by a subquery of its own (LATERAL, a probe of the holds'
    -- key per listed hold): with a join the planner may read the holds whole as the outer
    -- side (it did on small tables).
    SELECT coalesce(array_agg(d.h ORDER BY (d.h).expires_at, (d.h).id), '{}') INTO v_holds
      FROM (SELECT locked.held AS h
              FROM payments.hold_expiries q
             CROSS JOIN LATERAL (
                    SELECT x AS held FROM payments.holds x
                     WHERE x.id = q.hold_id AND x.org_id = q.org_id
                       AND NOT EXISTS (SELECT FROM payments.hold_resolutions r
                                        WHERE r.hold_id = x.id)
                       FOR UPDATE SKIP LOCKED) locked
             WHERE q.expires_at <= now()
             ORDER BY q.expires_at, q.hold_id
             LIMIT p_limit) d;
    -- Resolved meanwhile by a writer that held the lock (this statement sees its commit).
    SELECT coalesce(array_agg(x ORDER BY x.expires_at, x.id), '{}') INTO v_holds
      FROM unnest(v_holds) x
     WHERE NOT EXISTS (SELECT FROM payments.hold_resolutions r WHERE r.hold_id = x.id);
    FOR v_org IN
        SELECT a.org FROM unnest(v_holds) x,
               LATERAL (VALUES (x.debit_org_id), (x.credit_org_id)) a(org)
         GROUP BY a.org
         ORDER BY a.org IS NOT DISTINCT FROM v_platform, a.org
    LOOP
        PERFORM FROM (SELECT a.id FROM payments.accounts a
                       WHERE a.org_id = v_org
                         AND a.id IN (SELECT x.debit_account_id FROM unnest(v_holds) x
                                       WHERE x.debit_org_id = v_org
                                      UNION ALL
                                      SELECT x.credit_account_id FROM unnest(v_holds) x
                                       WHERE x.credit_org_id = v_org)
                       ORDER BY a.id
                         FOR NO KEY UPDATE) a;
    END LOOP;
    FOREACH h IN ARRAY v_holds LOOP
        PERFORM payments._release_pending(h);
        INSERT INTO payments.hold_resolutions (hold_id, org_id, kind)
        VALUES (h.id, h.org_id, 'expired');
    END LOOP;
    PERFORM set_config('payments.writer', 'off', true);
    RETURN cardinality(v_holds);
END
$$;

--
-- Name: fx_liquidity_accounts(text[]); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments.fx_liquidity_accounts(p_currencies text[]) RETURNS TABLE(currency text, account_id uuid)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT a.currency, a.id FROM payments.accounts a
      JOIN payments.organizations o ON o.id = a.org_id AND o.is_platform
     WHERE a.code = 'fx_liquidity:' || lower(a.currency) AND a.currency = ANY (p_currencies)
       AND (payments.current_actor() IS NOT NULL OR payments._trusted_caller())
$$;

--
-- Name: fx_rates_append_only(); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments.fx_rates_append_only() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'LX002',
        MESSAGE = format('%s on payments.fx_rates is refused: rates are append-only', TG_OP);
END
$$;

--
-- Name: guard_account_update(); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments.guard_account_update() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF (NEW.id, NEW.org_id, NEW.code, NEW.type, NEW.currency, NEW.high_volume, NEW.created_at,
        NEW.normal_side)
       IS DISTINCT FROM
       (OLD.id, OLD.org_id, OLD.code, OLD.type, OLD.currency, OLD.high_volume, OLD.created_at,
        OLD.normal_side)
    THEN
        RAISE EXCEPTION USING ERRCODE = 'LX002',
            MESSAGE = 'an account''s identity, type, normal side, currency and volume class cannot change';
    END IF;
    IF (NEW.posted_debits, NEW.posted_credits, NEW.pending_debits, NEW.pending_credits,
        NEW.version, NEW.closed)
       IS DISTINCT FROM
       (OLD.posted_debits, OLD.posted_credits, OLD.pending_debits, OLD.pending_credits,
        OLD.version, OLD.closed)
       AND current_setting('payments.writer', true) IS DISTINCT FROM 'on'
    THEN
        RAISE EXCEPTION USING ERRCODE = 'LX002',
            MESSAGE = 'account balances change only by posting through the ledger';
    END IF;
    IF NEW.monitored IS DISTINCT FROM OLD.monitored
       AND current_setting('payments.monitors', true) IS DISTINCT FROM 'on'
    THEN
        RAISE EXCEPTION USING ERRCODE = 'LX002',
            MESSAGE = 'an account''s monitored flag changes only with its balance monitors';
    END IF;
    RETURN NEW;
END
$$;

--
-- Name: guard_line_update(); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments.guard_line_update() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF (NEW.account_version IS NULL) <> (NEW.account_posted_debits IS NULL)
       OR (NEW.account_version IS NULL) <> (NEW.account_posted_credits IS NULL) THEN
        PERFORM payments._check_violation('lines', 'lines_position_complete');
    END IF;
    IF OLD.account_version IS NULL AND NEW.account_version IS NOT NULL
       AND (NEW.id, NEW.entry_id, NEW.entry_org_id, NEW.org_id, NEW.account_id, NEW.side, NEW.amount,
            NEW.currency, NEW.effective_at, NEW.created_at)
           IS NOT DISTINCT FROM
           (OLD.id, OLD.entry_id, OLD.entry_org_id, OLD.org_id, OLD.account_id, OLD.side, OLD.amount,
            OLD.currency, OLD.effective_at, OLD.created_at)
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'LX002',
        MESSAGE = 'UPDATE on payments.lines is refused: the ledger is append-only';
END
$$;

--
-- Name: ledger_write(jsonb); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments.ledger_write(p jsonb) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET "payments.engine_checked" TO 'off'
    SET enable_seqscan TO 'off'
    AS $$
DECLARE
    v_org uuid := (p ->> 'org_id')::uuid;
    v_op text := p ->> 'operation';
    v_record boolean := coalesce((p ->> 'record_failure')::boolean, false);
    v_requests jsonb := p -> 'requests';
    v_count int := jsonb_array_length(v_requests);
    v_stored jsonb;
    v_todo jsonb;
    v_ids jsonb;
    v_results jsonb;
    v_conflict record;
    v_state text;
    v_code text;
    v_detail text;
    v_constraint text;
    v_existing uuid;
    v_hv uuid[];
BEGIN
    IF v_op NOT IN ('post_entries', 'create_hold', 'post_hold', 'void_hold', 'open_account',
                    'close_account') THEN
        PERFORM payments._fail('invalid_request', jsonb_build_object('operation', v_op));
    END IF;
    IF v_count = 0 OR (v_op <> 'post_entries' AND v_count <> 1) THEN
        PERFORM payments._fail('invalid_request', jsonb_build_object('requests', v_count));
    END IF;
    FOR v_attempt IN 1..20 LOOP
        BEGIN
            PERFORM set_config('payments.writer', 'on', true);
            PERFORM payments._check_org(v_org);

            -- Keys seen before: the same request replays its stored result, another conflicts.
            -- Probed by key (an index lookup per key, whatever the table's statistics say:
            -- enable_seqscan is off in this function, see the end of this file).
            SELECT jsonb_object_agg(k.key, jsonb_build_object('status', k.status, 'result', k.result))
              INTO v_stored
              FROM payments.idempotency_keys k
             WHERE k.org_id = v_org
               AND k.key = ANY (ARRAY(SELECT r.x ->> 'key' FROM jsonb_array_elements(v_requests) r(x)));
            IF v_stored IS NOT NULL THEN
                SELECT r.x ->> 'key' AS key INTO v_conflict
                  FROM jsonb_array_elements(v_requests) r(x)
                  JOIN payments.idempotency_keys k ON k.org_id = v_org AND k.key = r.x ->> 'key'
                 WHERE k.request_hash <> r.x ->> 'hash' OR k.operation <> v_op
                 LIMIT 1;
                IF FOUND THEN
                    PERFORM payments._fail('idempotency_conflict',
                        jsonb_build_object('idempotency_key', v_conflict.key));
                END IF;
            END IF;
            SELECT coalesce(jsonb_agg(r.x ORDER BY r.ord), '[]'::jsonb) INTO v_todo
              FROM jsonb_array_elements(v_requests) WITH ORDINALITY r(x, ord)
             WHERE v_stored IS NULL OR NOT v_stored ? (r.x ->> 'key');

            IF jsonb_array_length(v_todo) > 0 THEN
                -- A caller names what it posts, never how: an entry is standard, or a reversal
                -- when it names what it reverses; only post_hold makes hold posts.
                IF v_op = 'post_entries' THEN
                    SELECT jsonb_agg((x - 'kind' - 'hold_id' - 'id' - 'ord') || jsonb_build_object(
                               'kind', CASE WHEN x ->> 'reverses' IS NULL THEN 'standard'
                                            ELSE 'reversal' END) ORDER BY ord)
                      INTO v_todo
                      FROM jsonb_array_elements(v_todo) WITH ORDINALITY t(x, ord);
                END IF;
                v_ids := CASE v_op
                    WHEN 'post_entries' THEN payments._post(v_org, v_todo)
                    WHEN 'create_hold' THEN jsonb_build_array(payments._create_hold(v_org, v_todo -> 0))
                    WHEN 'post_hold' THEN jsonb_build_array(payments._post_hold(v_org, v_todo -> 0))
                    WHEN 'void_hold' THEN jsonb_build_array(payments._void_hold(v_org, v_todo -> 0))
                    WHEN 'open_account' THEN jsonb_build_array(payments._open_account(v_org, v_todo -> 0))
                    WHEN 'close_account' THEN jsonb_build_array(payments._close_account(v_org, v_todo -> 0))
                END;
                INSERT INTO payments.idempotency_keys (org_id, key, operation, request_hash, status, result)
                SELECT v_org, t.x ->> 'key', v_op, t.x ->> 'hash', 'succeeded', jsonb_build_object('id', i.id)
                  FROM jsonb_array_elements(v_todo) WITH ORDINALITY t(x, ord)
                  JOIN jsonb_array_elements(v_ids) WITH ORDINALITY i(id, ord) USING (ord);
                -- A high-volume account is read, not locked (_lock_accounts): one closed while
                -- a statement since waited (this key's or a reference's holder) sends the
                -- request round again, which judges it closed.
                -- Read by organization: the new lines' high-volume accounts, then the
                -- organization's closed ones, then the platform's (docs/engine.md).
                IF v_op IN ('post_entries', 'post_hold') THEN
                    SELECT array_agg(DISTINCT l.account_id) INTO v_hv
                      FROM payments.lines l
                     WHERE l.entry_org_id = v_org
                       AND l.entry_id IN (SELECT (i #>> '{}')::uuid
                                            FROM jsonb_array_elements(v_ids) i)
                       AND l.account_version IS NULL;
                    IF v_hv IS NOT NULL AND (
                           EXISTS (SELECT FROM payments.accounts a
                                    WHERE a.org_id = v_org AND a.id = ANY (v_hv) AND a.closed)
                        OR EXISTS (SELECT FROM payments.accounts a
                                    WHERE a.org_id = (SELECT o.id FROM payments.organizations o
                                                       WHERE o.is_platform)
                                      AND a.id = ANY (v_hv) AND a.closed)) THEN
                        RAISE EXCEPTION USING ERRCODE = 'serialization_failure',
                            MESSAGE = 'ledger_write: a high-volume account was closed meanwhile';
                    END IF;
                END IF;
            END IF;

            SELECT jsonb_agg(CASE
                       WHEN v_stored ? (r.x ->> 'key') THEN
                           (v_stored -> (r.x ->> 'key') -> 'result')
                           || jsonb_build_object('status', v_stored -> (r.x ->> 'key') ->> 'status',
                                                 'replayed', true)
                       ELSE jsonb_build_object('status', 'succeeded', 'replayed', false,
                                               'id', v_ids -> (t.ord::int - 1))
                   END ORDER BY r.ord)
              INTO v_results
              FROM jsonb_array_elements(v_requests) WITH ORDINALITY r(x, ord)
              LEFT JOIN jsonb_array_elements(v_todo) WITH ORDINALITY t(x, ord)
                     ON t.x ->> 'key' = r.x ->> 'key';
            -- A recorded failure replays as the same refusal; in a batch it fails the batch.
            IF v_count > 1 THEN
                SELECT x AS failure INTO v_conflict FROM jsonb_array_elements(v_results) x
                 WHERE x ->> 'status' = 'failed' LIMIT 1;
                IF FOUND THEN
                    PERFORM payments._fail(v_conflict.failure ->> 'code',
                                           v_conflict.failure -> 'details');
                END IF;
            END IF;
            PERFORM set_config('payments.writer', 'off', true);
            RETURN jsonb_build_object('results', v_results);
        EXCEPTION
            -- A deadlock is not run again here: the caller gets 40P01 at once, its
            -- transaction aborted, and runs its unit of work again (the API does). The
            -- rollback to the subtransaction cannot release what the caller's transaction
            -- took before the call (a unit of work posting for two organizations): every
            -- retry deadlocked again, up to 20 a side, a deadlock timeout each (review of
            -- e423f18). Even a caller that held nothing before may lose again: its retry
            -- can retake a row before the woken waiter does (seen in a test). Nor is a
            -- lock_not_available (the caller's own lock_timeout): running it again would
            -- make the caller wait its timeout up to 20 times, not once.
            WHEN serialization_failure THEN
                IF v_attempt = 20 THEN
                    RAISE;
                END IF;
                PERFORM pg_sleep(0.001 * v_attempt * random());
            WHEN unique_violation THEN
                GET STACKED DIAGNOSTICS v_constraint = CONSTRAINT_NAME;
                IF v_constraint = 'idempotency_keys_pkey' THEN
                    CONTINUE;  -- a concurrent request with the same key won: replay it
                ELSIF v_constraint = 'entries_org_external_ref_key' THEN
                    SELECT e.id, e.external_ref INTO v_conflict
                      FROM payments.entries e
                      JOIN jsonb_array_elements(v_requests) r(x)
                        ON e.org_id = v_org AND e.external_ref = r.x ->> 'external_ref'
                     LIMIT 1;
                    PERFORM payments._fail('duplicate_external_reference', jsonb_build_object(
                        'external_ref', v_conflict.external_ref, 'entry_id', v_conflict.id));
                ELSIF v_constraint = 'accounts_org_code_key' THEN
                    PERFORM payments._fail('duplicate_account_code', jsonb_build_object(
                        'org_id', v_org, 'account_code', v_requests -> 0 ->> 'code'));
                ELSIF v_constraint = 'entries_reversed_once' THEN
                    SELECT e.id, e.reverses_entry_id INTO v_conflict
                      FROM payments.entries e
                      JOIN jsonb_array_elements(v_requests) r(x)
                        ON e.reverses_entry_id = (r.x ->> 'reverses')::uuid
                     LIMIT 1;
                    IF FOUND THEN
                        v_code := 'entry_already_reversed';
                        v_detail := jsonb_build_object('entry_id', v_conflict.reverses_entry_id,
                                                       'reversal_entry_id', v_conflict.id)::text;
                    ELSE
                        -- the same entry reversed twice within one batch
                        PERFORM payments._fail('invalid_request', jsonb_build_object(
                            'reason', 'the batch reverses one entry twice'));
                    END IF;
                ELSE
                    RAISE;
                END IF;
            WHEN SQLSTATE 'LX001' THEN
                GET STACKED DIAGNOSTICS v_code = MESSAGE_TEXT, v_detail = PG_EXCEPTION_DETAIL;
            WHEN check_violation THEN
                GET STACKED DIAGNOSTICS v_constraint = CONSTRAINT_NAME;
                IF v_constraint LIKE 'accounts_%' THEN
                    PERFORM payments._fail('invalid_account', jsonb_build_object('reason', v_constraint));
                END IF;
                RAISE;
            WHEN invalid_text_representation OR numeric_value_out_of_range
                 OR invalid_datetime_format OR datetime_field_overflow THEN
                GET STACKED DIAGNOSTICS v_detail = MESSAGE_TEXT;
                PERFORM payments._fail('invalid_request', jsonb_build_object('reason', v_detail));
        END;
        -- Here only after a refusal (v_code): store it when it is a recorded one.
        IF v_code IS NOT NULL THEN
            IF v_record AND v_count = 1 AND v_code = ANY (payments.recorded_error_codes()) THEN
                INSERT INTO payments.idempotency_keys (org_id, key, operation, request_hash, status, result)
                VALUES (v_org, v_requests -> 0 ->> 'key', v_op, v_requests -> 0 ->> 'hash', 'failed',
                        jsonb_build_object('code', v_code, 'details', v_detail::jsonb));
                RETURN jsonb_build_object('results', jsonb_build_array(jsonb_build_object(
                    'status', 'failed', 'replayed', false, 'code', v_code,
                    'details', v_detail::jsonb)));
            END IF;
            PERFORM payments._fail(v_code, v_detail::jsonb);
        END IF;
    END LOOP;
    RAISE EXCEPTION 'ledger_write: too many retries';
END
$$;

--
-- Name: lines; Type: TABLE; Schema: payments; Owner: -
--

CREATE TABLE payments.lines (
    id bigint NOT NULL,
    entry_id uuid NOT NULL,
    entry_org_id uuid NOT NULL,
    org_id uuid NOT NULL,
    account_id uuid NOT NULL,
    side text NOT NULL,
    amount bigint NOT NULL,
    currency text NOT NULL,
    effective_at timestamp with time zone NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    account_version bigint,
    account_posted_debits bigint,
    account_posted_credits bigint
);

--
-- Name: line_hash(payments.lines); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments.line_hash(l payments.lines) RETURNS bytea
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
    SELECT sha256(convert_to(concat_ws('|',
        l.id, l.entry_id, l.entry_org_id, l.org_id, l.account_id, l.side, l.amount, l.currency,
        (extract(epoch FROM l.effective_at) * 1000000)::bigint,
        (extract(epoch FROM l.created_at) * 1000000)::bigint), 'UTF8'))
$$;

--
-- Name: list_hold_expiry(); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments.list_hold_expiry() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    IF TG_TABLE_NAME = 'holds' THEN
        INSERT INTO payments.hold_expiries (hold_id, org_id, expires_at)
        VALUES (NEW.id, NEW.org_id, NEW.expires_at);
    ELSE
        DELETE FROM payments.hold_expiries WHERE hold_id = NEW.hold_id AND org_id = NEW.org_id;
    END IF;
    RETURN NULL;
END
$$;

--
-- Name: post_batch(jsonb); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments.post_batch(p jsonb) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET "payments.engine_checked" TO 'off'
    AS $$
DECLARE
    v_org uuid := (p ->> 'org_id')::uuid;
    v_requests jsonb := p -> 'requests';
    v_n int := jsonb_array_length(p -> 'requests');
    v_results jsonb[] := array_fill(NULL::jsonb, ARRAY[jsonb_array_length(p -> 'requests')]);
    v_chain jsonb;
    v_len int;
    v_answer jsonb;
    v_code text;
    v_detail text;
    v_culprit int;
BEGIN
    IF v_n = 0 OR (SELECT count(*) FROM jsonb_array_elements(p -> 'chains') c,
                                         jsonb_array_elements_text(c) i) <> v_n THEN
        PERFORM payments._fail('invalid_request',
            jsonb_build_object('reason', 'every request belongs to exactly one chain'));
    END IF;
    PERFORM payments._check_org(v_org);
    BEGIN
        RETURN payments.ledger_write(jsonb_build_object(
            'org_id', v_org, 'operation', 'post_entries', 'record_failure', false,
            'requests', v_requests));
    EXCEPTION WHEN SQLSTATE 'LX001' THEN
        NULL;  -- something was refused: judged chain by chain below
    END;
    FOR v_chain IN SELECT c FROM jsonb_array_elements(p -> 'chains') c LOOP
        v_len := jsonb_array_length(v_chain);
        BEGIN
            v_answer := payments.ledger_write(jsonb_build_object(
                'org_id', v_org, 'operation', 'post_entries', 'record_failure', v_len = 1,
                'requests', (SELECT jsonb_agg(v_requests -> (i.x::int) ORDER BY i.o)
                               FROM jsonb_array_elements_text(v_chain) WITH ORDINALITY i(x, o))));
            FOR k IN 0 .. v_len - 1 LOOP
                v_results[(v_chain ->> k)::int + 1] := v_answer -> 'results' -> k;
            END LOOP;
        EXCEPTION WHEN SQLSTATE 'LX001' THEN
            GET STACKED DIAGNOSTICS v_code = MESSAGE_TEXT, v_detail = PG_EXCEPTION_DETAIL;
            v_culprit := 0;
            IF v_len > 1 THEN
                FOR k IN 1 .. v_len LOOP
                    BEGIN
                        PERFORM payments.ledger_write(jsonb_build_object(
                            'org_id', v_org, 'operation', 'post_entries', 'record_failure', false,
                            'requests', (SELECT jsonb_agg(v_requests -> (i.x::int) ORDER BY i.o)
                                           FROM jsonb_array_elements_text(v_chain)
                                                WITH ORDINALITY i(x, o)
                                          WHERE i.o <= k)));
                        RAISE SQLSTATE 'LX003';  -- this prefix posts: undo it, try a longer one
                    EXCEPTION
                        WHEN SQLSTATE 'LX003' THEN
                            NULL;
                        WHEN SQLSTATE 'LX001' THEN
                            GET STACKED DIAGNOSTICS v_code = MESSAGE_TEXT,
                                                    v_detail = PG_EXCEPTION_DETAIL;
                            v_culprit := k - 1;
                            EXIT;
                    END;
                END LOOP;
            END IF;
            FOR k IN 0 .. v_len - 1 LOOP
                v_results[(v_chain ->> k)::int + 1] := CASE
                    WHEN k = v_culprit THEN jsonb_build_object(
                        'status', 'failed', 'replayed', false, 'code', v_code,
                        'details', v_detail::jsonb)
                    ELSE jsonb_build_object(
                        'status', 'failed', 'replayed', false, 'code', 'linked_entry_failed',
                        'details', jsonb_build_object('index', (v_chain ->> v_culprit)::int))
                END;
            END LOOP;
        END;
    END LOOP;
    RETURN jsonb_build_object('results', to_jsonb(v_results));
END
$$;

--
-- Name: post_batch_fast(uuid, text[], text[], text[], jsonb[], timestamp with time zone[], text[], integer[], uuid[], text[], bigint[], text[]); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments.post_batch_fast(p_org uuid, p_keys text[], p_hashes text[], p_descriptions text[], p_metadata jsonb[], p_effective_at timestamp with time zone[], p_external_refs text[], p_entry_of integer[], p_accounts uuid[], p_sides text[], p_amounts bigint[], p_currencies text[]) RETURNS uuid[]
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET "payments.writer" TO 'on'
    SET "payments.engine_checked" TO 'on'
    SET plan_cache_mode TO 'force_generic_plan'
    SET enable_seqscan TO 'off'
    SET enable_bitmapscan TO 'off'
    SET enable_nestloop TO 'off'
    AS $$
DECLARE
    -- Who acts, asked once (each question computes the actor's proof again).
    v_actor text := payments.current_actor();
    v_acting uuid := CASE WHEN v_actor <> 'platform' THEN v_actor::uuid END;
    v_known boolean;
    v_platform uuid;
    v_who uuid;
    v_n int := coalesce(cardinality(p_keys), 0);
    v_m int := coalesce(cardinality(p_accounts), 0);
    v_ok boolean;
    v_refs bigint;
    v_distinct int;
    -- The accounts found, as they were before this batch, and their ids.
    v_accounts payments._batch_account[] := '{}';
    v_found uuid[] := '{}';
    -- Where the regular accounts locked are (their rows' ctid): the UPDATE finds them there
    -- (a Tid Scan), not by a descent of the accounts' key per account (session 42: -1.7 % of
    -- a batch entry's instructions). A row this transaction holds FOR NO KEY UPDATE keeps
    -- its ctid until this transaction updates it.
    v_tids tid[] := '{}';
    v_hv_ids uuid[] := '{}';
    v_orgs uuid[];
    v_versions bigint[];
    v_debits bigint[];
    v_credits bigint[];
    v_ids uuid[];
    v_base bytea;
    v_low bigint;
    v_done bigint;
    v_moved bigint := 0;
    v_at timestamptz;
BEGIN
    -- Who acts: as post_entry.
    SELECT EXISTS (SELECT FROM payments.organizations o WHERE o.id = p_org),
           (SELECT o.id FROM payments.organizations o WHERE o.is_platform)
      INTO v_known, v_platform;
    IF p_org IS NULL OR NOT v_known
       OR (v_acting IS NOT NULL AND v_acting <> p_org)
       OR (v_acting IS NULL AND v_actor IS DISTINCT FROM 'platform'
           AND NOT payments._trusted_caller()) THEN
        PERFORM payments._fail('organization_not_found', jsonb_build_object('org_id', p_org));
    END IF;
    IF v_acting IS NOT NULL OR v_platform = p_org THEN
        v_platform := NULL;
    END IF;

    -- The shape: arrays of matching lengths, unique keys, entries 1..n each of two or more
    -- valid lines balancing per currency (every line's entry one of 1..n: a NULL is no
    -- entry); no key or external reference seen before.
    IF v_n = 0 OR v_n > 10000
       OR cardinality(p_hashes) IS DISTINCT FROM v_n
       OR cardinality(p_descriptions) IS DISTINCT FROM v_n
       OR cardinality(p_metadata) IS DISTINCT FROM v_n
       OR cardinality(p_effective_at) IS DISTINCT FROM v_n
       OR cardinality(p_external_refs) IS DISTINCT FROM v_n
       OR cardinality(p_entry_of) IS DISTINCT FROM v_m
       OR cardinality(p_sides) IS DISTINCT FROM v_m
       OR cardinality(p_amounts) IS DISTINCT FROM v_m
       OR cardinality(p_currencies) IS DISTINCT FROM v_m THEN
        RETURN NULL;
    END IF;
    WITH g AS (
        SELECT l.e, count(*) AS n,
               sum(CASE l.side WHEN 'debit' THEN l.amount WHEN 'credit' THEN -l.amount END) AS net,
               -- coalesce: bool_and and sum skip NULLs, so a line with no amount or a side
               -- that is neither would otherwise pass as balanced and fail later, untyped.
               bool_and(coalesce(l.account_id IS NOT NULL AND l.amount > 0
                                 AND l.side IN ('debit', 'credit') AND l.currency IS NOT NULL,
                                 false)) AS fine
          FROM (SELECT unnest(p_entry_of) AS e, unnest(p_accounts) AS account_id,
                       unnest(p_sides) AS side, unnest(p_amounts) AS amount,
                       unnest(p_currencies) AS currency) AS l
         GROUP BY l.e, l.currency
    ), ent AS (
        SELECT g.e, sum(g.n) AS n, bool_and(coalesce(g.net = 0 AND g.fine, false)) AS ok
          FROM g GROUP BY g.e
    ), keys AS (
        SELECT count(DISTINCT x.k COLLATE "C") = v_n
               AND NOT coalesce(bool_or(x.k IS NULL OR x.k = '' OR x.h IS NULL), true)
               AND count(x.r) = count(DISTINCT x.r COLLATE "C") AS ok,
               count(x.r) AS refs
          FROM (SELECT unnest(p_keys) AS k, unnest(p_hashes) AS h,
                       unnest(p_external_refs) AS r) AS x
    )
    SELECT (SELECT count(*) = v_n AND min(ent.e) = 1 AND max(ent.e) = v_n
                   AND bool_and(ent.e IS NOT NULL AND ent.ok AND ent.n >= 2) FROM ent)
           AND keys.ok,
           keys.refs,
           (SELECT count(DISTINCT a) FROM unnest(p_accounts) a)
      INTO v_ok, v_refs, v_distinct
      FROM keys;
    IF v_ok IS NOT TRUE
       OR EXISTS (SELECT FROM payments.idempotency_keys k
                   WHERE k.org_id = p_org AND k.key = ANY (p_keys))
       OR (v_refs > 0 AND EXISTS (SELECT FROM payments.entries e
                                   WHERE e.org_id = p_org AND e.external_ref IS NOT NULL
                                     AND e.external_ref = ANY (p_external_refs))) THEN
        RETURN NULL;
    END IF;

    BEGIN
        v_who := p_org;
        LOOP
            -- This organization's regular accounts, locked in id order (the ORDER BY under
            -- the lock: whatever the plan), as they are before the batch; where they are (ctid)
            -- and their ids. One scan of the accounts' key by the batch's account ids (an
            -- array scan: the ids sorted, each leaf page read once; session 42: it was a
            -- DISTINCT of the ids joined to one probe per account), and the arrays built
            -- in the same statement (the ids were read back from v_accounts by another).
            SELECT v_accounts || coalesce(array_agg(ROW(a.id, a.org_id, a.currency, a.closed,
                       false, a.debits_must_not_exceed_credits,
                       a.credits_must_not_exceed_debits, a.posted_debits, a.posted_credits,
                       a.pending_debits, a.pending_credits, a.version)::payments._batch_account),
                       '{}'),
                   v_tids || coalesce(array_agg(a.ctid), '{}'),
                   v_found || coalesce(array_agg(a.id), '{}')
              INTO v_accounts, v_tids, v_found
              FROM (SELECT a.ctid, a.id, a.org_id, a.currency, a.closed,
                           a.debits_must_not_exceed_credits, a.credits_must_not_exceed_debits,
                           a.posted_debits, a.posted_credits, a.pending_debits,
                           a.pending_credits, a.version
                      FROM payments.accounts a
                     WHERE a.id = ANY (p_accounts) AND a.org_id = v_who
                       AND NOT a.high_volume AND a.id <> ALL (v_found)
                     ORDER BY a.id
                       FOR NO KEY UPDATE OF a) a;
            -- Its high-volume ones, read, not locked (their lines are rolled up later, as
            -- post_entry posts them), while far from the overflow limits (as
            -- _check_positions judges them); only when some account is still missing.
            IF cardinality(v_found) < v_distinct THEN
                SELECT v_accounts || coalesce(array_agg(ROW(a.id, a.org_id, a.currency, a.closed,
                           true, false, false, a.posted_debits, a.posted_credits,
                           a.pending_debits, a.pending_credits, a.version)
                           ::payments._batch_account), '{}'),
                       v_hv_ids || coalesce(array_agg(a.id), '{}')
                  INTO v_accounts, v_hv_ids
                  FROM payments.accounts a
                 -- Only the accounts still missing (a hashed set difference, once: an
                 -- InitPlan), not the batch's every id probed again and its row fetched.
                 WHERE a.id = ANY (ARRAY(SELECT unnest(p_accounts) EXCEPT SELECT unnest(v_found)))
                   AND a.org_id = v_who AND a.high_volume
                   AND a.posted_debits < 2305843009213693952
                   AND a.posted_credits < 2305843009213693952
                   -- The overflow hint on the account's own row (no large line of its own
                   -- unrolled), not its lines read by account alone (docs/engine.md).
                   AND NOT a.large_unrolled;
                v_found := ARRAY(SELECT a.id FROM unnest(v_accounts) a);
            END IF;
            EXIT WHEN cardinality(v_found) >= v_distinct OR v_platform IS NULL
                   OR v_who = v_platform;
            v_who := v_platform;
        END LOOP;
        IF cardinality(v_found) < v_distinct THEN
            -- A missing or another organization's account, or a high-volume one near its
            -- limits.
            RAISE SQLSTATE 'LX003';
        END IF;

        -- Every line's running position on its (regular) account, judged: a closed or
        -- other-currency account, or an overdraft where an entry leaves an account, sends
        -- the batch the long way.
        SELECT bool_and(coalesce(r.fine, false)
                        AND (r.hv OR NOT r.last_of_entry
                             OR ((NOT r.dm OR r.debits + r.pending_debits <= r.credits)
                                 AND (NOT r.cm OR r.credits + r.pending_credits <= r.debits)))),
               array_agg(r.org_id ORDER BY r.ord),
               -- A high-volume account's lines carry no position until the roll-up.
               array_agg(CASE WHEN NOT r.hv THEN r.version END ORDER BY r.ord),
               array_agg(CASE WHEN NOT r.hv THEN r.debits::bigint END ORDER BY r.ord),
               array_agg(CASE WHEN NOT r.hv THEN r.credits::bigint END ORDER BY r.ord)
          INTO v_ok, v_orgs, v_versions, v_debits, v_credits
          FROM (SELECT x.ord, a.hv, a.org_id, a.dm, a.cm, a.pending_debits, a.pending_credits,
                       a.currency = x.currency AND NOT a.closed
                           AND (NOT a.hv OR x.amount < 1099511627776) AS fine,
                       a.version + row_number() OVER w AS version,
                       a.debits + sum(CASE WHEN x.side = 'debit' THEN x.amount ELSE 0 END)
                                  OVER w AS debits,
                       a.credits + sum(CASE WHEN x.side = 'credit' THEN x.amount ELSE 0 END)
                                   OVER w AS credits,
                       -- The last line of its entry on its account (or, for lines of one
                       -- entry not side by side, one of them: judged once more, stricter):
                       -- the account's next line is another entry's, or there is none.
                       lead(x.e) OVER w IS DISTINCT FROM x.e AS last_of_entry
                  FROM (SELECT unnest(p_entry_of) AS e, unnest(p_accounts) AS account_id,
                               unnest(p_sides) AS side, unnest(p_amounts) AS amount,
                               unnest(p_currencies) AS currency,
                               generate_series(1, cardinality(p_entry_of)) AS ord) AS x
                  JOIN unnest(v_accounts) a ON a.id = x.account_id
                WINDOW w AS (PARTITION BY x.account_id ORDER BY x.ord)) r;
        IF v_ok IS NOT TRUE THEN
            RAISE SQLSTATE 'LX003';
        END IF;

        -- The regular accounts moved by the batch's net amounts on each, one UPDATE per
        -- organization (their rows locked above: the UPDATE's own order does not matter).
        FOR v_who IN SELECT DISTINCT a.org_id FROM unnest(v_accounts) a WHERE NOT a.hv LOOP
            UPDATE payments.accounts a
               SET posted_debits = a.posted_debits + d.dr,
                   posted_credits = a.posted_credits + d.cr,
                   version = a.version + d.n
              FROM (SELECT x.id,
                           sum(CASE WHEN x.side = 'debit' THEN x.amount ELSE 0 END) AS dr,
                           sum(CASE WHEN x.side = 'credit' THEN x.amount ELSE 0 END) AS cr,
                           count(*) AS n
                      FROM (SELECT unnest(p_accounts) AS id, unnest(p_sides) AS side,
                                   unnest(p_amounts) AS amount) AS x
                     GROUP BY x.id) d
             WHERE a.ctid = ANY (v_tids) AND a.org_id = v_who AND a.id = d.id
               AND NOT a.high_volume;
            GET DIAGNOSTICS v_done = ROW_COUNT;
            v_moved := v_moved + v_done;
        END LOOP;
        -- The backstop of the moves by ctid (cannot happen: every row locked above, none
        -- updated since): every regular account locked moved, or nothing is written.
        IF v_moved <> cardinality(v_tids) THEN
            RAISE EXCEPTION 'post_batch_fast: % of % accounts moved', v_moved,
                cardinality(v_tids);
        END IF;
        -- Every guard held on the locked rows: the keys, the entries and their lines;
        -- recorded at the time read now that the accounts are locked (as _post does: an
        -- account's lines in the order of its versions by time too, which balance_as_of
        -- reads). The keys come after the locks as in every other door (the one lock order,
        -- docs/engine.md): inserted before them (tried in session 40), a batch holding a key
        -- while it waited for an account deadlocked with a post_entry of that key holding
        -- the account (the key's insert waits for its holder).
        v_at := clock_timestamp();
        -- The entries' ids: one UUIDv7 for the batch, its last 16 bits replaced by the
        -- entry's number (1..n, n <= 10000): time-ordered, in request order, unique within
        -- the batch, and 46 random bits apart from any other batch's in the same
        -- millisecond (a UUIDv7 of PostgreSQL 18 holds 62 random bits, its 12 bits after
        -- the millisecond being a finer timestamp; 16 of the 62 are replaced here; a clash
        -- would be a unique violation: the long way). uuidv7() draws from the strong random
        -- source on every call (measured: ~6 us an entry).
        v_base := uuid_send(uuidv7());
        v_low := ('x' || encode(substring(v_base FROM 9 FOR 8), 'hex'))::bit(64)::bigint
                 & -65536;
        v_ids := ARRAY(SELECT encode(substring(v_base FROM 1 FOR 8) || int8send(v_low | i),
                                     'hex')::uuid
                         FROM generate_series(1, v_n) i);
        INSERT INTO payments.idempotency_keys (org_id, key, operation, request_hash, status,
                                               result)
        SELECT p_org, x.k, 'post_entries', x.h, 'succeeded', jsonb_build_object('id', x.id)
          FROM (SELECT unnest(p_keys) AS k, unnest(p_hashes) AS h, unnest(v_ids) AS id) AS x;
        INSERT INTO payments.entries (id, org_id, kind, description, metadata, effective_at,
                                      created_at, external_ref, idempotency_key)
        SELECT x.id, p_org, 'standard', coalesce(x.description, ''),
               coalesce(x.metadata, '{}'::jsonb), coalesce(x.effective_at, v_at), v_at,
               x.ref, x.k
          FROM (SELECT unnest(v_ids) AS id, unnest(p_descriptions) AS description,
                       unnest(p_metadata) AS metadata, unnest(p_effective_at) AS effective_at,
                       unnest(p_external_refs) AS ref, unnest(p_keys) AS k) AS x;
        -- v_ids and p_effective_at hold fixed-width elements: a subscript is a direct read.
        INSERT INTO payments.lines (entry_id, entry_org_id, org_id, account_id, side, amount,
                                    currency, effective_at, created_at, account_version,
                                    account_posted_debits, account_posted_credits)
        SELECT v_ids[x.e], p_org, x.org_id, x.account_id, x.side, x.amount, x.currency,
               coalesce(p_effective_at[x.e], v_at), v_at, x.version, x.debits, x.credits
          FROM (SELECT unnest(p_entry_of) AS e, unnest(p_accounts) AS account_id,
                       unnest(p_sides) AS side, unnest(p_amounts) AS amount,
                       unnest(p_currencies) AS currency, unnest(v_orgs) AS org_id,
                       unnest(v_versions) AS version, unnest(v_debits) AS debits,
                       unnest(v_credits) AS credits) AS x;
        GET DIAGNOSTICS v_done = ROW_COUNT;
        -- The backstop (the row triggers are skipped): every line inserted.
        IF v_done IS DISTINCT FROM v_m THEN
            RAISE EXCEPTION 'post_batch_fast: % of % lines inserted', v_done, v_m;
        END IF;
        -- A high-volume account closed while a statement waited (a key's or a reference's
        -- holder): undone, the long way refuses it. One statement per organization.
        IF cardinality(v_hv_ids) > 0
           AND (EXISTS (SELECT FROM payments.accounts a
                         WHERE a.org_id = p_org AND a.id = ANY (v_hv_ids) AND a.closed)
                OR (v_platform IS NOT NULL
                    AND EXISTS (SELECT FROM payments.accounts a
                                 WHERE a.org_id = v_platform AND a.id = ANY (v_hv_ids)
                                   AND a.closed))) THEN
            RAISE SQLSTATE 'LX003';
        END IF;
    EXCEPTION WHEN unique_violation OR numeric_value_out_of_range OR SQLSTATE 'LX003' THEN
        -- A key or reference taken meanwhile by a concurrent request, a total past 2**63, or
        -- a line the long way refuses: everything undone, the long way judges the batch. A
        -- deadlock (a unit of work outside the one lock order) is not caught: the caller gets
        -- 40P01 at once, as from ledger_write. Run the long way in the same transaction, the
        -- batch waited again for the rows the other side waits on (the caller's locks from
        -- before the call are not released by this block's rollback) and deadlocked again.
        RETURN NULL;
    END;
    RETURN v_ids;
END
$$;

--
-- Name: post_capture_entry(uuid, text, text, uuid[], text[], bigint[], text[], text, text, uuid, uuid[]); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments.post_capture_entry(p_org uuid, p_key text, p_hash text, p_accounts uuid[], p_sides text[], p_amounts bigint[], p_currencies text[], p_description text, p_external_ref text, p_regular uuid, p_high_volume uuid[]) RETURNS uuid
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET "payments.writer" TO 'on'
    SET "payments.engine_checked" TO 'on'
    SET plan_cache_mode TO 'force_generic_plan'
    SET enable_seqscan TO 'off'
    SET enable_bitmapscan TO 'off'
    AS $$
DECLARE
    v_platform uuid;
    v_version bigint;  -- the regular row's after the line, and its posted totals
    v_debits bigint;
    v_credits bigint;
    v_id uuid;
    v_at timestamptz;
    v_keys int;
    v_lines int;
    v_net numeric;
    v_closed uuid;
BEGIN
    -- Who acts (as post_entry's step 1, for a caller that may use the platform's accounts:
    -- the platform's proof, or no proof and the owner; anyone else is post_entry's to
    -- judge), the regular row locked and judged, every line judged, in one statement: a row
    -- only when all holds. Each check is an expression over the arrays (an operator each:
    -- every node of a statement's expressions is compiled again at each execution) or one
    -- subquery.
    SELECT (SELECT o.id FROM payments.organizations o WHERE o.is_platform), r.version + 1,
           r.posted_debits + h.dr, r.posted_credits + h.cr, uuidv7(), clock_timestamp()
      INTO v_platform, v_version, v_debits, v_credits, v_id, v_at
      FROM (SELECT a.id, a.currency, a.closed, a.version, a.posted_debits, a.posted_credits,
                   a.pending_debits, a.pending_credits,
                   a.debits_must_not_exceed_credits AS dm,
                   a.credits_must_not_exceed_debits AS cm
              FROM payments.accounts a
             WHERE a.org_id = p_org AND a.id = p_regular AND NOT a.high_volume
               -- who acts: the owner (no proof), or the platform's proof (current_actor(), a
               -- function call, asked only of a caller with a proof)
               AND CASE WHEN coalesce(current_setting('liventix.actor_proof', true), '') = ''
                        THEN payments._owner_role(current_user)
                        ELSE payments.current_actor() = 'platform' END
               FOR NO KEY UPDATE) r
     -- the lines: the regular line's amounts by side, the entry's net
     CROSS JOIN (SELECT coalesce(sum(x.m) FILTER (WHERE x.a = p_regular AND x.s = 'debit'), 0)
                            AS dr,
                        coalesce(sum(x.m) FILTER (WHERE x.a = p_regular AND x.s = 'credit'), 0)
                            AS cr,
                        sum(CASE WHEN x.s = 'debit' THEN x.m ELSE -(x.m::numeric) END) AS net
                   FROM (SELECT unnest(p_accounts) AS a, unnest(p_sides) AS s,
                                unnest(p_amounts) AS m) AS x) h
     -- The shape: three to eight lines, the arrays of one length, every account on one line
     -- (the regular one and each high-volume one: the same set, as many; the high-volume
     -- ones told apart by the key's gate below, which counts them by account), each line
     -- valid (a positive amount below 2**40 on a side) in the entry's one currency, the key
     -- not empty (idempotency_keys_key_check).
     WHERE cardinality(p_accounts) BETWEEN 3 AND 8
       AND cardinality(p_sides) = cardinality(p_accounts)
       AND cardinality(p_amounts) = cardinality(p_accounts)
       AND cardinality(p_currencies) = cardinality(p_accounts)
       AND cardinality(p_high_volume) = cardinality(p_accounts) - 1
       AND p_accounts <@ (p_regular || p_high_volume)
       AND (p_regular || p_high_volume) <@ p_accounts
       AND 0 < ALL (p_amounts) AND 1099511627776 > ALL (p_amounts)
       AND p_sides <@ '{debit,credit}'::text[] AND p_currencies <@ ARRAY[p_currencies[1]]
       AND p_key <> ''
       -- the regular row's guards, on the locked row
       AND payments._regular_row_takes(r.currency, r.closed, r.posted_debits,
                                       r.posted_credits, r.pending_debits, r.pending_credits,
                                       r.dm, r.cm, p_currencies[1], h.dr, h.cr)
       AND h.net = 0
       -- a used reference is post_entry's to refuse
       AND (p_external_ref IS NULL OR NOT EXISTS (
               SELECT FROM payments.entries e
                WHERE e.org_id = p_org AND e.external_ref = p_external_ref));
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    -- The key, gated by the high-volume rows (read now, after the regular row's lock): every
    -- account of p_high_volume the platform's, high-volume and taking its line
    -- (_high_volume_row_takes), counted by account (so none named twice: with the arrays'
    -- containment both ways and the lengths above, every account of the entry is on one
    -- line); a row held back or a key already there: nothing else written, NULL. Then the
    -- regular row moved, the entry and its lines (in request order, the order of the arrays'
    -- one scan, as post_entry inserts them; a high-volume account's line without a
    -- position), the entry's id (time-ordered, UUIDv7, as post_entry's) and time (recorded
    -- at the time read once the row is locked) drawn by the first statement; the backstop
    -- over the lines inserted.
    WITH k AS (
        INSERT INTO payments.idempotency_keys (org_id, key, operation, request_hash, status,
                                               result)
        SELECT p_org, p_key, 'post_entries', p_hash, 'succeeded',
               jsonb_build_object('id', v_id)
         WHERE (SELECT count(*)
                  FROM payments.accounts a
                 WHERE a.org_id = v_platform AND a.id = ANY (p_high_volume) AND a.high_volume
                   AND payments._high_volume_row_takes(a.currency, a.closed,
                                                       a.large_unrolled, a.posted_debits,
                                                       a.posted_credits, p_currencies[1]))
               = cardinality(p_high_volume)
        ON CONFLICT DO NOTHING
        RETURNING 1
    ), m AS (
        UPDATE payments.accounts a
           SET posted_debits = v_debits, posted_credits = v_credits, version = v_version
         WHERE a.org_id = p_org AND a.id = p_regular AND EXISTS (SELECT FROM k)
        RETURNING a.id
    ), e AS (
        INSERT INTO payments.entries (id, org_id, kind, description, metadata, effective_at,
                                      created_at, external_ref, idempotency_key)
        SELECT v_id, p_org, 'standard', coalesce(p_description, ''), '{}'::jsonb, v_at, v_at,
               p_external_ref, p_key
          FROM m
        RETURNING 1
    ), l AS (
        INSERT INTO payments.lines (entry_id, entry_org_id, org_id, account_id, side, amount,
                                    currency, effective_at, created_at, account_version,
                                    account_posted_debits, account_posted_credits)
        SELECT v_id, p_org, CASE WHEN x.a = p_regular THEN p_org ELSE v_platform END, x.a,
               x.s, x.m, x.c, v_at, v_at,
               CASE WHEN x.a = p_regular THEN v_version END,
               CASE WHEN x.a = p_regular THEN v_debits END,
               CASE WHEN x.a = p_regular THEN v_credits END
          FROM (SELECT unnest(p_accounts) AS a, unnest(p_sides) AS s, unnest(p_amounts) AS m,
                       unnest(p_currencies) AS c) AS x
         WHERE EXISTS (SELECT FROM e)
        RETURNING lines.side, lines.amount
    )
    SELECT (SELECT count(*) FROM k), count(*),
           coalesce(sum(CASE l.side WHEN 'debit' THEN l.amount ELSE -(l.amount::numeric) END),
                    0)
      INTO v_keys, v_lines, v_net
      FROM l;
    IF v_lines <> cardinality(p_accounts) OR v_net <> 0 THEN
        IF v_keys = 0 THEN  -- a high-volume row held back, or the key is there: post_entry
            RETURN NULL;    -- judges it (the long way, a replay or a conflict)
        END IF;
        -- Cannot happen (the row locked, every line judged): never a key, a moved row or an
        -- entry without all its lines, balanced.
        RAISE EXCEPTION 'post_capture_entry: % of % lines inserted, net %', v_lines,
            cardinality(p_accounts), v_net;
    END IF;
    -- As post_entry's: a high-volume account closed while a statement waited is refused
    -- (raised: the key is this transaction's; a retry under it goes the long way). Probed
    -- unordered (no sort, no limit: ~10K instructions of a capture's ~1,386K); only a refusal
    -- asks for the first in request order.
    SELECT c.id INTO v_closed
      FROM payments._closed_high_volume(v_platform, p_high_volume) AS c(id);
    IF FOUND THEN
        SELECT c.id INTO v_closed
          FROM payments._closed_high_volume(v_platform, p_high_volume) AS c(id)
         ORDER BY array_position(p_accounts, c.id) LIMIT 1;
        PERFORM payments._fail('account_closed', jsonb_build_object('account_id', v_closed));
    END IF;
    RETURN v_id;
END
$$;

--
-- Name: post_entry(uuid, text, text, uuid[], text[], bigint[], text[], text, jsonb, timestamp with time zone, text); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments.post_entry(p_org uuid, p_key text, p_hash text, p_accounts uuid[], p_sides text[], p_amounts bigint[], p_currencies text[], p_description text, p_metadata jsonb, p_effective_at timestamp with time zone, p_external_ref text, OUT status text, OUT id uuid, OUT replayed boolean, OUT code text, OUT details jsonb) RETURNS record
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET "payments.writer" TO 'on'
    SET "payments.engine_checked" TO 'on'
    SET plan_cache_mode TO 'force_generic_plan'
    SET enable_seqscan TO 'off'
    SET enable_bitmapscan TO 'off'
    AS $$
#variable_conflict use_column
DECLARE
    -- Who acts: the actor the proof presented names (payments.current_actor(), a SQL function
    -- call, SECURITY DEFINER: asked only of a caller that presented a proof; with none it
    -- answers NULL, so a proofless caller, the owner posting as the workers, the CLI and the
    -- benchmarks do, is not asked).
    v_actor text := CASE WHEN coalesce(current_setting('liventix.actor_proof', true), '') <> ''
                         THEN payments.current_actor() END;
    v_refused boolean;
    v_platform uuid;
    v_key record;
    -- Time-ordered (UUIDv7), as the batch door's: the entries' primary key and lines_entry
    -- take each posting at their right edge, not at a random page of an index as large as
    -- the ledger (session 28: 5,298 -> 4,959 B of WAL per posting after a checkpoint).
    v_id uuid;
    v_n int;
    v_distinct int;
    v_ids uuid[];
    v_orgs uuid[];
    v_versions bigint[];
    v_debits bigint[];
    v_credits bigint[];
    v_hv_ids uuid[];
    v_hv_orgs uuid[];
    v_ok boolean;
    v_done int;
    v_dr bigint;
    v_cr bigint;
    v_balanced boolean;
    v_answer jsonb;
    v_at timestamptz;
    v_i int;
    v_row record;
    -- 3a's arrays start NULL (no initial value: an untyped '{}' was cast by array_in at every
    -- call); an element assigned to a NULL array makes it an array, and a missing element
    -- reads NULL.
    -- Where 3a's locked rows are (their ctid, in the order locked): the write finds them
    -- there, not by a second descent of the accounts' key (session 42: -18K instructions a
    -- two-line posting). A row this transaction holds FOR NO KEY UPDATE keeps its ctid until
    -- this transaction updates it.
    v_tids tid[];
    v_reg uuid[];  -- the regular accounts 3a locked, in the order locked: one or two
    -- per line (request order, 3a, by subscript): its account's organization, version and
    -- posted totals after it (NULL on a high-volume account's line but its organization)
    v_line_orgs uuid[];
    v_vers bigint[];
    v_debs bigint[];
    v_creds bigint[];
    -- The high-volume accounts 3a read (NULL: none): how many, and what the closed recheck
    -- probes (these alone, not every account of the request).
    v_hvs uuid[];
    -- The request's accounts not found by 3a's step 1: what the later steps probe (each
    -- probe of an id step 1 found was a descent of the accounts' key for nothing).
    v_missing uuid[];
    v_hv_id uuid;
    v_plat_hv int;  -- of v_hvs, the platform's (step 2's), once a step after it ran
    v_who uuid;  -- the organization whose accounts a statement reads: p_org, then the platform
    v_step int;  -- 3a's step: 1 and 4 lock regular accounts (p_org's, the platform's), 2 and 3
                 -- read high-volume ones (the platform's, p_org's)
    -- 3a: the entry's debits less its credits so far; numeric, as the shape's sum was: it is
    -- added to before a line is judged valid, and a raw call's negative amounts (a line below
    -- -2**40 is not large) would overflow a bigint into an untyped 22003 (review of 62e3ecf)
    v_net numeric;
    -- Of the regular accounts (3a), p_org's: counted once a step follows step 1; NULL when
    -- 3a ended at step 1 (every one of them is p_org's).
    v_org_regs int;
    v_moved int;  -- 3a's write: the regular rows moved
    v_eff timestamptz;  -- the entry's effective time
    v_closed uuid;
    v_pass_ids uuid[];
    v_pass_orgs uuid[];
    v_pass_versions bigint[];
    v_pass_debits bigint[];
    v_pass_credits bigint[];
    v_locked int;
    v_large boolean;  -- a line of 2**40 or more: the long way, nothing locked before it
BEGIN
    -- 1. Who acts: as _check_org. An organization acting for itself sees none of the
    -- platform's accounts (v_platform NULL); the platform's proof and the owner may use them.
    -- Whether a caller with no proof is the owner: payments._owner_role, the owner's test
    -- (as _trusted_caller's), inlined (_trusted_caller, a SQL function with a subquery, is
    -- not: called, it cost ~25 us of every owner's posting, perf, session 29), asked only of
    -- such a caller, of this door's owner (current_user here: no catalog query). The same
    -- statement draws the entry's id and counts its lines, and starts 3a's state: each
    -- PL/pgSQL assignment or condition is an expression compiled again in every transaction
    -- (a posting is one), a statement's target list is not dearer per value (session 39).
    SELECT p_org IS NULL
           OR NOT EXISTS (SELECT FROM payments.organizations o WHERE o.id = p_org)
           -- an organization's proof acting for another
           OR coalesce(CASE WHEN v_actor <> 'platform' THEN v_actor::uuid <> p_org END, false)
           -- no proof (or a wrong one), and not the owner
           OR (v_actor IS NULL
               AND NOT payments._owner_role(current_user)),
           CASE WHEN v_actor IS NULL OR v_actor = 'platform'
                THEN (SELECT o.id FROM payments.organizations o WHERE o.is_platform) END,
           uuidv7(), cardinality(p_accounts),
           -- A line of 2**40 or more goes the long way with no account locked here first (3a
           -- and 3 are skipped): _post locks the high-volume accounts such lines reach with
           -- the regular ones, organization by organization in the one order
           -- (_lock_accounts' p_large); the regular ones locked here first, the platform's
           -- among them, would come before them (review of 2e5ae69: a deadlock with a hold's
           -- creation).
           coalesce(1099511627776 <= ANY (p_amounts), false),
           0, true, p_org, 1
      INTO v_refused, v_platform, v_id, v_n, v_large, v_net, v_ok, v_who, v_step;
    -- The key's rule (idempotency_keys_key_check), which the skipped trigger would judge:
    -- after the organization's.
    IF v_refused OR p_key = '' THEN
        IF v_refused THEN
            PERFORM payments._fail('organization_not_found',
                                   jsonb_build_object('org_id', p_org));
        END IF;
        PERFORM payments._check_violation('idempotency_keys', 'idempotency_keys_key_check');
    END IF;

    -- 3a. The usual entry: two regular accounts, each on one line, and maybe high-volume
    -- ones (a sale's fee to the platform's revenue), or one regular account and one or more
    -- high-volume ones (the payment's capture: the escrow, the clearing, the platform's and
    -- Stripe's fees), every account on one line, in one currency; two lines are two regular
    -- accounts (one beside a high-volume one goes the general way). Two statements, one text
    -- each, run organization by organization in the doors' one order (docs/engine.md):
    --   r. the regular accounts of one organization, read and locked in id order (primary-key
    --      probes of the request's accounts, no high-volume branch);
    --   h. the high-volume accounts of one organization, read, not locked (an entry of three
    --      or more lines).
    -- Steps: (1) r of p_org; then, only while some account is still missing: for three or
    -- more lines (2) h of the platform (when the caller may use its accounts), (3) h of p_org;
    -- (4) r of the platform (after every lock of p_org's: the one order). The hot sale (two
    -- of the organization's regular accounts, the platform's high-volume fee) and the capture
    -- (the escrow, the platform's three high-volume accounts) run (1) and (2) only; a
    -- two-line entry (1), and (4) for a regular account of the platform's. Session 33's 3a
    -- ran one statement per organization, a UNION ALL of both kinds with eight subscripts
    -- per probe list, for every entry of three or more lines.
    -- Each row is judged once: a line's own validity here, the row by its kind's guard
    -- function, shared with step 3 and post_capture_entry (_regular_row_takes: the account's
    -- currency, open, overflow, overdraft flags; _high_volume_row_takes: far from its
    -- limits); the entry balances (a running net: every amount is below 2**40
    -- here, so eight of them cannot overflow) in one currency, each account found once.
    -- The key is not looked up first: its INSERT finds it (a replay locks the accounts,
    -- judges them and then answers from 2). Only once all pass and the key is taken are the
    -- regular rows moved (p_org's by the statement that takes the key, the platform's by one
    -- of their own); the key, the entry and its lines are plain INSERTs. Whatever does not
    -- fit (a guard that holds an account back, another number of regular accounts, a
    -- high-volume account near its limits, the key already there or taken meanwhile, a used
    -- reference) moves nothing and is handed to 2 and 3: no account is moved and put back,
    -- so nothing (a balance monitor's trigger) ever sees a movement that did not happen.
    IF NOT v_large AND v_n BETWEEN 2 AND 8 AND cardinality(p_sides) = v_n
       AND cardinality(p_amounts) = v_n AND cardinality(p_currencies) = v_n THEN
        LOOP
            IF v_step IN (1, 4) THEN
                FOR v_row IN
                    SELECT a.ctid, a.id, a.org_id, a.currency, a.closed, a.version,
                           a.posted_debits, a.posted_credits, a.pending_debits, a.pending_credits,
                           a.debits_must_not_exceed_credits AS dm,
                           a.credits_must_not_exceed_debits AS cm
                      FROM payments.accounts a
                     WHERE a.org_id = v_who AND a.id = ANY (coalesce(v_missing, p_accounts))
                       AND NOT a.high_volume
                     ORDER BY a.id
                       FOR NO KEY UPDATE
                LOOP
                    v_i := array_position(p_accounts, v_row.id);
                    v_dr := CASE WHEN p_sides[v_i] = 'debit' THEN p_amounts[v_i] ELSE 0 END;
                    v_cr := CASE WHEN p_sides[v_i] = 'credit' THEN p_amounts[v_i] ELSE 0 END;
                    -- The line valid (a positive amount on a side) in the entry's currency,
                    -- and the guards of a regular row on the locked row (_regular_row_takes).
                    -- (A row is locked by one step only: each step reads only the accounts
                    -- the steps before it did not find.)
                    v_ok := v_ok AND coalesce(
                        v_dr + v_cr > 0 AND p_currencies[v_i] = p_currencies[1]
                        AND payments._regular_row_takes(
                                v_row.currency, v_row.closed, v_row.posted_debits,
                                v_row.posted_credits, v_row.pending_debits,
                                v_row.pending_credits, v_row.dm, v_row.cm, p_currencies[v_i],
                                v_dr, v_cr), false);
                    v_net := v_net + v_dr - v_cr;
                    v_reg := v_reg || v_row.id;
                    v_tids := v_tids || v_row.ctid;
                    -- The line's organization and its account's position after it.
                    v_line_orgs[v_i] := v_row.org_id;
                    v_vers[v_i] := v_row.version + 1;
                    v_debs[v_i] := CASE WHEN v_ok THEN v_row.posted_debits + v_dr END;
                    v_creds[v_i] := CASE WHEN v_ok THEN v_row.posted_credits + v_cr END;
                END LOOP;
            ELSE
                FOR v_row IN
                    SELECT a.id, a.org_id, a.currency, a.closed, a.posted_debits,
                           a.posted_credits, a.large_unrolled
                      FROM payments.accounts a
                     WHERE a.org_id = v_who AND a.id = ANY (v_missing) AND a.high_volume
                LOOP
                    v_i := array_position(p_accounts, v_row.id);
                    -- The line valid (a positive amount below 2**40 on a side) in the entry's
                    -- currency, and the guards of a high-volume row (_high_volume_row_takes);
                    -- its line carries no position until the roll-up.
                    v_ok := v_ok AND v_line_orgs[v_i] IS NULL AND coalesce(
                        p_amounts[v_i] > 0 AND p_sides[v_i] IN ('debit', 'credit')
                        AND p_currencies[v_i] = p_currencies[1]
                        AND p_amounts[v_i] < 1099511627776
                        AND payments._high_volume_row_takes(
                                v_row.currency, v_row.closed, v_row.large_unrolled,
                                v_row.posted_debits, v_row.posted_credits, p_currencies[v_i]),
                        false);
                    v_net := v_net + CASE WHEN p_sides[v_i] = 'debit' THEN p_amounts[v_i]
                                          ELSE -(p_amounts[v_i]::numeric) END;
                    v_line_orgs[v_i] := v_row.org_id;
                    v_hvs := v_hvs || v_row.id;
                END LOOP;
            END IF;
            -- The usual two lines leave by the first test, every account regular and found:
            -- a condition is compiled at its first run in a transaction, a step at a time
            -- (~190 instructions a step, each looked up again by its first run's check), so
            -- the second, ~33 steps, is compiled only by an entry that gets that far (two-line
            -- -13K instructions, the hot sale +4K; session 45).
            EXIT WHEN NOT v_ok OR cardinality(v_reg) = v_n;
            EXIT WHEN coalesce(cardinality(v_reg), 0) + coalesce(cardinality(v_hvs), 0) >= v_n
                   OR v_step = 4 OR (v_platform IS NULL AND (v_n = 2 OR v_step = 3))
                   OR (v_step = 1 AND cardinality(v_reg) > 2);
            -- What the later steps probe: the request's accounts less those found (after
            -- step 1 the regular ones, one or two: more is no usual entry, the long way).
            -- Never changed while a step's query runs on it (its scan's keys point into it).
            IF v_step = 1 THEN
                v_org_regs := coalesce(cardinality(v_reg), 0);
                v_missing := array_remove(array_remove(p_accounts, v_reg[1]), v_reg[2]);
            ELSE
                FOREACH v_hv_id IN ARRAY coalesce(v_hvs, '{}'::uuid[]) LOOP
                    v_missing := array_remove(v_missing, v_hv_id);
                END LOOP;
                IF v_step = 2 THEN
                    v_plat_hv := coalesce(cardinality(v_hvs), 0);
                END IF;
            END IF;
            -- The next step: 2 and 4 read the platform's (only for a caller that may use
            -- them), 3 the organization's high-volume ones (three or more lines).
            v_step := CASE WHEN v_n = 2 OR v_step = 3 THEN 4
                           WHEN v_step = 1 AND v_platform IS NULL THEN 3
                           ELSE v_step + 1 END;
            v_who := CASE WHEN v_step IN (2, 4) THEN v_platform ELSE p_org END;
        END LOOP;
        -- A used reference goes the long way (asked only of an entry naming one: a query).
        IF p_external_ref IS NOT NULL THEN
            v_ok := v_ok AND NOT EXISTS (SELECT FROM payments.entries e
                                          WHERE e.org_id = p_org
                                            AND e.external_ref = p_external_ref);
        END IF;
        -- Balanced, two regular accounts (or one beside high-volume ones), every account of
        -- the request found once.
        IF v_ok AND v_net = 0
           AND (cardinality(v_reg) = 2 OR (cardinality(v_reg) = 1 AND v_n > 2))
           AND cardinality(v_reg) + coalesce(cardinality(v_hvs), 0) = v_n THEN
            -- The key; nothing else when it is there (a replay, a conflict: 2).
            INSERT INTO payments.idempotency_keys (org_id, key, operation, request_hash, status,
                                                   result)
            VALUES (p_org, p_key, 'post_entries', p_hash, 'succeeded',
                    jsonb_build_object('id', v_id))
            ON CONFLICT DO NOTHING;
            IF FOUND THEN
                -- Every guard held on the locked rows: move them (one or two), by organization
                -- as they were locked: the organization's (none when both are the
                -- platform's), then the platform's when the entry moves one of its regular
                -- accounts.
                IF v_org_regs IS DISTINCT FROM 0 THEN
                    UPDATE payments.accounts a
                       SET posted_debits = v_debs[array_position(p_accounts, a.id)],
                           posted_credits = v_creds[array_position(p_accounts, a.id)],
                           version = v_vers[array_position(p_accounts, a.id)]
                     WHERE a.ctid = ANY (v_tids) AND a.org_id = p_org;
                    GET DIAGNOSTICS v_moved = ROW_COUNT;
                ELSE
                    v_moved := 0;
                END IF;
                -- Not when the platform posts for itself: the statement above moved every
                -- row then, whichever step read it.
                IF v_org_regs < cardinality(v_reg) AND v_platform IS DISTINCT FROM p_org THEN
                    UPDATE payments.accounts a
                       SET posted_debits = v_debs[array_position(p_accounts, a.id)],
                           posted_credits = v_creds[array_position(p_accounts, a.id)],
                           version = v_vers[array_position(p_accounts, a.id)]
                     WHERE a.ctid = ANY (v_tids) AND a.org_id = v_platform;
                    GET DIAGNOSTICS v_i = ROW_COUNT;
                    v_moved := v_moved + v_i;
                END IF;
                -- The entry, recorded at the time read once the key is taken; its insert
                -- answers the posting (status, id, replayed: any other way sets them again).
                v_at := clock_timestamp();
                INSERT INTO payments.entries (id, org_id, kind, description, metadata,
                                              effective_at, created_at, external_ref,
                                              idempotency_key)
                VALUES (v_id, p_org, 'standard', coalesce(p_description, ''),
                        coalesce(p_metadata, '{}'::jsonb), coalesce(p_effective_at, v_at), v_at,
                        p_external_ref, p_key)
                RETURNING 'succeeded', entries.id, false, entries.effective_at
                     INTO status, id, replayed, v_eff;
                -- In request order; a high-volume account's line without a position (its
                -- three arrays' elements NULL: shorter arrays are padded so).
                INSERT INTO payments.lines (entry_id, entry_org_id, org_id, account_id, side,
                                            amount, currency, effective_at, created_at,
                                            account_version, account_posted_debits,
                                            account_posted_credits)
                SELECT v_id, p_org, v_line_orgs[i], p_accounts[i], p_sides[i], p_amounts[i],
                       p_currencies[i], v_eff, v_at, v_vers[i], v_debs[i], v_creds[i]
                  FROM generate_series(1, v_n) AS i;
                GET DIAGNOSTICS v_done = ROW_COUNT;
                IF v_done <> v_n OR v_moved <> cardinality(v_reg) THEN
                    -- Cannot happen (every row locked, every line judged): never a key, a
                    -- moved row or an entry without all its lines.
                    RAISE EXCEPTION 'post_entry: % of % lines inserted, % accounts moved',
                        v_done, v_n, v_moved;
                END IF;
                -- A high-volume account read open above may have been closed while a statement
                -- since waited (the key's or the reference's holder): judged again, refused
                -- (raised: the key is this transaction's; a retry under it goes the long way,
                -- which remembers the refusal).
                -- Read by organization, as above.
                -- Each probes the high-volume accounts read (the platform's by step 2, the
                -- last step or followed by others, v_plat_hv of them; p_org's by step 3),
                -- unordered; only a refusal asks for the first in request order.
                IF v_hvs IS NOT NULL THEN
                    IF v_step >= 3 AND cardinality(v_hvs) > coalesce(v_plat_hv, 0) THEN
                        SELECT c.id INTO v_closed
                          FROM payments._closed_high_volume(p_org, v_hvs) AS c(id);
                        IF v_closed IS NOT NULL THEN
                            SELECT c.id INTO v_closed
                              FROM payments._closed_high_volume(p_org, v_hvs) AS c(id)
                             ORDER BY array_position(p_accounts, c.id) LIMIT 1;
                        END IF;
                    END IF;
                    IF v_closed IS NULL AND (v_step = 2 OR v_plat_hv > 0) THEN
                        SELECT c.id INTO v_closed
                          FROM payments._closed_high_volume(v_platform, v_hvs) AS c(id);
                        IF v_closed IS NOT NULL THEN
                            SELECT c.id INTO v_closed
                              FROM payments._closed_high_volume(v_platform, v_hvs) AS c(id)
                             ORDER BY array_position(p_accounts, c.id) LIMIT 1;
                        END IF;
                    END IF;
                    IF v_closed IS NOT NULL THEN
                        PERFORM payments._fail('account_closed',
                                               jsonb_build_object('account_id', v_closed));
                    END IF;
                END IF;
                RETURN;
            END IF;
        END IF;
        -- Not here: nothing was moved (the rows stay locked); 2 and 3 judge the request.
    END IF;

    -- 2. The key: a replay answers what was stored, another request under it conflicts.
    SELECT k.status, k.result, k.request_hash, k.operation INTO v_key
      FROM payments.idempotency_keys k WHERE k.org_id = p_org AND k.key = p_key;
    IF FOUND THEN
        IF v_key.request_hash <> p_hash OR v_key.operation <> 'post_entries' THEN
            PERFORM payments._fail('idempotency_conflict',
                jsonb_build_object('idempotency_key', p_key));
        END IF;
        status := v_key.status;
        id := (v_key.result ->> 'id')::uuid;
        code := v_key.result ->> 'code';
        details := v_key.result -> 'details';
        replayed := true;
        RETURN;
    END IF;

    -- 3. The regular accounts: locked and judged by every rule; they are moved in 4, only
    -- once every one passes and the key is taken (never moved and put back). Read by
    -- organization in the doors' one order (docs/engine.md): the organization's accounts
    -- (regular ones locked in id order, then the high-volume ones read), then, when some
    -- are still missing and the caller may use them, the platform's, the same way.
    v_ids := '{}';
    v_orgs := '{}';
    v_versions := '{}';
    v_debits := '{}';
    v_credits := '{}';
    v_done := 0;
    v_who := p_org;
    LOOP
        EXIT WHEN v_large;  -- step 4 is not taken (it asks NOT v_large): the long way
        WITH l AS (
            SELECT x.account_id, x.side, x.amount, x.currency
              FROM (SELECT unnest(p_accounts) AS account_id, unnest(p_sides) AS side,
                           unnest(p_amounts) AS amount, unnest(p_currencies) AS currency) AS x
        ), d AS (
            SELECT l.account_id,
                   count(DISTINCT l.currency) AS currencies, min(l.currency) AS currency,
                   coalesce(sum(l.amount) FILTER (WHERE l.side = 'debit'), 0) AS debits,
                   coalesce(sum(l.amount) FILTER (WHERE l.side = 'credit'), 0) AS credits,
                   count(*) AS n
              FROM l GROUP BY l.account_id
        ), valid AS (
            SELECT v_n >= 2 AND cardinality(p_sides) = v_n AND cardinality(p_amounts) = v_n
                   AND cardinality(p_currencies) = v_n
                   AND coalesce(bool_and(l.account_id IS NOT NULL
                                         AND l.side IN ('debit', 'credit')
                                         AND l.amount > 0 AND l.currency IS NOT NULL), false)
                   -- balanced per currency (the row triggers are skipped in this door)
                   AND coalesce((SELECT bool_and(b.net = 0)
                                   FROM (SELECT sum(CASE x.side WHEN 'debit' THEN x.amount
                                                                ELSE -x.amount END) AS net
                                           FROM l x GROUP BY x.currency) b), false) AS ok
              FROM l
        ), locked AS (
            SELECT a.id, a.org_id, a.currency, a.closed, a.version, a.posted_debits,
                   a.posted_credits, a.pending_debits, a.pending_credits,
                   a.debits_must_not_exceed_credits, a.credits_must_not_exceed_debits
              FROM payments.accounts a
             WHERE a.org_id = v_who AND a.id = ANY (p_accounts) AND NOT a.high_volume
             ORDER BY a.id
               FOR NO KEY UPDATE
        ), fine AS (
            SELECT a.id, a.org_id, a.version, a.posted_debits, a.posted_credits
              FROM d JOIN locked a ON a.id = d.account_id
             WHERE (SELECT valid.ok FROM valid)
               AND d.currencies = 1
               AND payments._regular_row_takes(
                       a.currency, a.closed, a.posted_debits, a.posted_credits,
                       a.pending_debits, a.pending_credits, a.debits_must_not_exceed_credits,
                       a.credits_must_not_exceed_debits, d.currency, d.debits, d.credits)
        )
        SELECT array_agg(m.id), array_agg(m.org_id), array_agg(m.version),
               array_agg(m.posted_debits), array_agg(m.posted_credits),
               (SELECT count(*) FROM d), (SELECT valid.ok FROM valid),
               (SELECT count(*) FROM locked)
          INTO v_pass_ids, v_pass_orgs, v_pass_versions, v_pass_debits, v_pass_credits,
               v_distinct, v_ok, v_locked
          FROM fine m;
        v_ids := v_ids || coalesce(v_pass_ids, '{}');
        v_orgs := v_orgs || coalesce(v_pass_orgs, '{}');
        v_versions := v_versions || coalesce(v_pass_versions, '{}');
        v_debits := v_debits || coalesce(v_pass_debits, '{}');
        v_credits := v_credits || coalesce(v_pass_credits, '{}');
        -- A regular account held back by a guard: the long way judges it.
        v_ok := v_ok IS TRUE AND v_locked = coalesce(cardinality(v_pass_ids), 0);
        v_done := v_done + coalesce(cardinality(v_pass_ids), 0);

        -- High-volume accounts are not locked (their lines are rolled up later); they take
        -- the fast path while far from the overflow limits (the account's hint, as
        -- _check_positions judges them).
        IF v_ok AND v_done < v_distinct THEN
            SELECT array_agg(h.id), array_agg(h.org_id) INTO v_pass_ids, v_pass_orgs
              FROM (SELECT a.id, a.org_id
                      FROM payments.accounts a
                      JOIN (SELECT unnest(p_accounts) AS account_id, unnest(p_amounts) AS amount,
                                   unnest(p_currencies) AS currency) AS x
                        ON a.id = x.account_id
                     WHERE a.org_id = v_who AND a.id = ANY (p_accounts) AND a.high_volume
                     GROUP BY a.id, a.org_id
                    HAVING bool_and(payments._high_volume_row_takes(
                                        a.currency, a.closed, a.large_unrolled,
                                        a.posted_debits, a.posted_credits, x.currency)
                                    AND x.amount < 1099511627776)) h;
            v_hv_ids := coalesce(v_hv_ids, '{}') || coalesce(v_pass_ids, '{}');
            v_hv_orgs := coalesce(v_hv_orgs, '{}') || coalesce(v_pass_orgs, '{}');
            v_done := v_done + coalesce(cardinality(v_pass_ids), 0);
        END IF;
        EXIT WHEN NOT v_ok OR v_done >= v_distinct OR v_platform IS NULL
               OR v_who = v_platform;
        v_who := v_platform;
    END LOOP;
    IF v_hv_ids = '{}' THEN
        v_hv_ids := NULL;
        v_hv_orgs := NULL;
    END IF;

    -- 4. The key, then the regular accounts moved (every one passed in 3), then the entry and
    -- its lines; nothing if the key was taken meanwhile (ON CONFLICT waited for that
    -- request's commit) or the reference is used.
    -- Recorded at the time read now that the regular accounts are locked (as _post does).
    -- Only a valid entry (two or more lines, balanced per currency: v_ok) is inserted here,
    -- whatever its accounts are; any other goes the long way, which refuses it, typed.
    v_at := clock_timestamp();
    IF v_large IS FALSE AND v_ok IS TRUE AND v_done = v_distinct
       AND (p_external_ref IS NULL OR NOT EXISTS (
            SELECT FROM payments.entries e
             WHERE e.org_id = p_org AND e.external_ref = p_external_ref)) THEN
        INSERT INTO payments.idempotency_keys (org_id, key, operation, request_hash, status,
                                               result)
        VALUES (p_org, p_key, 'post_entries', p_hash, 'succeeded',
                jsonb_build_object('id', v_id))
        ON CONFLICT DO NOTHING;
        IF FOUND THEN
            -- The rows are locked and every guard held on them: the same sums as the lines'.
            -- By organization, as they were locked (the platform's only when it has some).
            v_done := 0;
            v_who := p_org;
            WHILE v_who IS NOT NULL LOOP
                UPDATE payments.accounts a
                   SET posted_debits = a.posted_debits + d.debits,
                       posted_credits = a.posted_credits + d.credits,
                       version = a.version + d.n
                  FROM (SELECT x.account_id,
                               coalesce(sum(x.amount) FILTER (WHERE x.side = 'debit'), 0)
                                   AS debits,
                               coalesce(sum(x.amount) FILTER (WHERE x.side = 'credit'), 0)
                                   AS credits,
                               count(*) AS n
                          FROM (SELECT unnest(p_accounts) AS account_id, unnest(p_sides) AS side,
                                       unnest(p_amounts) AS amount) AS x
                         WHERE x.account_id IN (SELECT r.id
                                                  FROM (SELECT unnest(v_ids) AS id,
                                                               unnest(v_orgs) AS o) AS r
                                                 WHERE r.o = v_who)
                         GROUP BY x.account_id) d
                 WHERE a.org_id = v_who AND a.id = d.account_id;
                GET DIAGNOSTICS v_i = ROW_COUNT;
                v_done := v_done + v_i;
                EXIT WHEN v_who <> p_org OR v_platform IS NULL OR v_platform = p_org
                       OR NOT v_platform = ANY (v_orgs);
                v_who := v_platform;
            END LOOP;
            IF v_done <> coalesce(cardinality(v_ids), 0) THEN  -- cannot happen: locked above
                RAISE EXCEPTION 'post_entry: % of % accounts moved', v_done,
                    coalesce(cardinality(v_ids), 0);
            END IF;
            WITH e AS (
                INSERT INTO payments.entries (id, org_id, kind, description, metadata,
                                              effective_at, created_at, external_ref,
                                              idempotency_key)
                SELECT v_id, p_org, 'standard', coalesce(p_description, ''),
                       coalesce(p_metadata, '{}'::jsonb), coalesce(p_effective_at, v_at), v_at,
                       p_external_ref, p_key
                RETURNING entries.id, entries.effective_at, entries.created_at
            ), a AS (
                SELECT r.id, r.org_id, r.version, r.debits, r.credits
                  FROM (SELECT unnest(v_ids) AS id, unnest(v_orgs) AS org_id,
                               unnest(v_versions) AS version, unnest(v_debits) AS debits,
                               unnest(v_credits) AS credits) AS r
                UNION ALL
                SELECT h.id, h.org_id, NULL, NULL, NULL
                  FROM (SELECT unnest(v_hv_ids) AS id, unnest(v_hv_orgs) AS org_id) AS h
            ), ins AS (
                INSERT INTO payments.lines (entry_id, entry_org_id, org_id, account_id, side,
                                            amount, currency, effective_at, created_at,
                                            account_version, account_posted_debits,
                                            account_posted_credits)
                SELECT e.id, p_org, a.org_id, x.account_id, x.side, x.amount, x.currency,
                       e.effective_at, e.created_at, a.version + row_number() OVER w,
                       a.debits
                         + sum(CASE WHEN x.side = 'debit' THEN x.amount ELSE 0 END) OVER w,
                       a.credits
                         + sum(CASE WHEN x.side = 'credit' THEN x.amount ELSE 0 END) OVER w
                  FROM e
                 CROSS JOIN (SELECT unnest(p_accounts) AS account_id, unnest(p_sides) AS side,
                                    unnest(p_amounts) AS amount,
                                    unnest(p_currencies) AS currency,
                                    generate_series(1, cardinality(p_accounts)) AS ord) AS x
                  JOIN a ON a.id = x.account_id
                WINDOW w AS (PARTITION BY x.account_id ORDER BY x.ord)
                 ORDER BY x.ord
                RETURNING lines.side, lines.amount, lines.currency
            )
            -- The backstop, over the rows inserted (the row triggers are skipped): how
            -- many, and whether they balance per currency.
            SELECT coalesce(sum(b.n), 0), coalesce(bool_and(b.net = 0), false)
              INTO v_done, v_balanced
              FROM (SELECT count(*) AS n,
                           sum(CASE ins.side WHEN 'debit' THEN ins.amount ELSE -ins.amount END)
                               AS net
                      FROM ins GROUP BY ins.currency) b;
            IF v_done <> v_n OR v_done < 2 OR NOT v_balanced THEN
                -- Cannot happen (every line's account was moved or read above, the entry
                -- checked valid); never leave an entry with some of its lines, or unbalanced,
                -- nor a key and moved accounts without their entry: abort.
                RAISE EXCEPTION 'post_entry: % of % lines inserted, balanced: %',
                    v_done, v_n, v_balanced;
            END IF;
            -- As in 3a: a high-volume account closed while a statement waited is refused.
            -- Read by organization, as above.
            IF v_hv_ids IS NOT NULL THEN
                SELECT c.id INTO v_closed
                  FROM payments._closed_high_volume(p_org, v_hv_ids) AS c(id)
                 ORDER BY array_position(p_accounts, c.id) LIMIT 1;
                IF v_closed IS NULL AND v_platform = ANY (v_hv_orgs) THEN
                    SELECT c.id INTO v_closed
                      FROM payments._closed_high_volume(v_platform, v_hv_ids) AS c(id)
                     ORDER BY array_position(p_accounts, c.id) LIMIT 1;
                END IF;
                IF v_closed IS NOT NULL THEN
                    PERFORM payments._fail('account_closed',
                                           jsonb_build_object('account_id', v_closed));
                END IF;
            END IF;
            status := 'succeeded';
            id := v_id;
            replayed := false;
            RETURN;
        END IF;
    END IF;

    -- The long way: nothing was moved (the regular accounts stay locked); ask ledger_write.
    v_answer := payments.ledger_write(jsonb_build_object(
        'org_id', p_org, 'operation', 'post_entries', 'record_failure', true,
        'requests', jsonb_build_array(jsonb_build_object(
            'key', p_key, 'hash', p_hash, 'kind', 'standard',
            -- No line at all is an empty array (too_few_lines), never JSON's null.
            'lines', coalesce((SELECT jsonb_agg(jsonb_build_object('account_id', x.account_id,
                                                                   'side', x.side,
                                                                   'amount', x.amount,
                                                                   'currency', x.currency)
                                                ORDER BY x.ord)
                                 FROM unnest(p_accounts, p_sides, p_amounts, p_currencies)
                                      WITH ORDINALITY AS x(account_id, side, amount, currency,
                                                           ord)), '[]'::jsonb),
            'description', coalesce(p_description, ''),
            'metadata', coalesce(p_metadata, '{}'::jsonb),
            'effective_at', p_effective_at, 'external_ref', p_external_ref,
            'conditions', '[]'::jsonb)))) -> 'results' -> 0;
    status := v_answer ->> 'status';
    id := (v_answer ->> 'id')::uuid;
    replayed := (v_answer ->> 'replayed')::boolean;
    code := v_answer ->> 'code';
    details := v_answer -> 'details';
END
$$;

--
-- Name: recorded_error_codes(); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments.recorded_error_codes() RETURNS text[]
    LANGUAGE sql IMMUTABLE
    AS $$
    SELECT ARRAY['account_closed', 'insufficient_funds', 'balance_overflow', 'condition_failed',
                 'entry_already_reversed', 'hold_already_posted', 'hold_already_voided',
                 'hold_already_expired', 'hold_expired', 'hold_amount_exceeded']
$$;

--
-- Name: refuse_change(); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments.refuse_change() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'LX002',
        MESSAGE = format('%s on payments.%s is refused: the ledger is append-only',
                         TG_OP, TG_TABLE_NAME);
END
$$;

--
-- Name: roll_up(uuid, integer); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments.roll_up(p_account uuid, p_limit integer DEFAULT 100000) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET enable_seqscan TO 'off'
    AS $$
DECLARE
    a payments.accounts;
    v_done int;
BEGIN
    PERFORM payments._check_platform();
    PERFORM set_config('payments.writer', 'on', true);
    SELECT * INTO a FROM payments.accounts WHERE id = p_account AND high_volume FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    WITH todo AS (
        SELECT l.id, l.entry_org_id, l.side, l.amount FROM payments.lines l
         WHERE l.account_id = p_account AND l.account_version IS NULL
         ORDER BY l.id LIMIT p_limit FOR UPDATE
    ), run AS (
        SELECT id, entry_org_id,
               a.version + row_number() OVER w AS version,
               a.posted_debits + sum(CASE WHEN side = 'debit' THEN amount ELSE 0 END) OVER w AS debits,
               a.posted_credits + sum(CASE WHEN side = 'credit' THEN amount ELSE 0 END) OVER w AS credits
          FROM todo WINDOW w AS (ORDER BY id)
    ), moved AS (
        UPDATE payments.lines l
           SET account_version = run.version, account_posted_debits = run.debits,
               account_posted_credits = run.credits
          -- By the primary key, (entry_org_id, id): the line's id alone is no index's lead.
          FROM run WHERE l.entry_org_id = run.entry_org_id AND l.id = run.id
        RETURNING run.version, run.debits, run.credits
    )
    UPDATE payments.accounts x
       SET version = m.version, posted_debits = m.debits, posted_credits = m.credits
      FROM (SELECT version, debits, credits FROM moved ORDER BY version DESC LIMIT 1) m
     WHERE x.id = p_account;
    GET DIAGNOSTICS v_done = ROW_COUNT;
    IF v_done > 0 THEN
        SELECT count(*) INTO v_done FROM payments.lines
         WHERE account_id = p_account AND account_version > a.version;
        -- The fast doors' overflow hint (accounts.large_unrolled): down once no large line
        -- is left unrolled. The row is locked: every writer of a large line on it holds or
        -- waits for this lock (the doors take it before they insert the line, the line's
        -- trigger raises the hint under it), so a large line this statement cannot see
        -- (uncommitted) raises the hint again once this transaction ends.
        UPDATE payments.accounts x SET large_unrolled = false
         WHERE x.id = p_account AND x.org_id = a.org_id AND x.large_unrolled
           AND NOT EXISTS (SELECT FROM payments.lines w
                            WHERE w.account_id = p_account AND w.account_version IS NULL
                              AND w.amount >= 1099511627776);
    END IF;
    PERFORM set_config('payments.writer', 'off', true);
    RETURN v_done;
END
$$;

--
-- Name: roll_up_all(integer); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments.roll_up_all(p_limit integer DEFAULT 100000) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    v_account uuid;
    v_done int := 0;
BEGIN
    PERFORM payments._check_platform();
    FOR v_account IN
        SELECT a.id FROM payments.accounts a
         WHERE a.high_volume
         ORDER BY a.org_id IS NOT DISTINCT FROM (SELECT o.id FROM payments.organizations o
                                                  WHERE o.is_platform),
                  a.org_id, a.id
    LOOP
        v_done := v_done + payments.roll_up(v_account, p_limit);
    END LOOP;
    RETURN v_done;
END
$$;

--
-- Name: seal(integer, interval); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments.seal(p_limit integer DEFAULT NULL::integer, p_min_interval interval DEFAULT NULL::interval) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    v_cut timestamptz;
    v_bound timestamptz;
    v_prev_cut timestamptz;
    v_pseq bigint;
    v_sealed bigint := 0;
    v_members text;
    v_prev payments.checkpoints;
    c payments.checkpoints;
    v_made jsonb := '[]';
BEGIN
    PERFORM payments._check_platform();
    IF p_min_interval IS NOT NULL AND EXISTS (
        SELECT FROM payments.checkpoints k
         WHERE k.org_id IS NULL AND k.sealed_at > now() - p_min_interval) THEN
        RETURN jsonb_build_object('busy', false, 'sealed', 0, 'checkpoints', '[]'::jsonb);
    END IF;
    IF NOT pg_try_advisory_xact_lock(hashtext('payments.seal'), 0) THEN
        RETURN jsonb_build_object('busy', true, 'sealed', 0, 'checkpoints', '[]'::jsonb);
    END IF;
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        PERFORM payments._fail('invalid_request', jsonb_build_object(
            'reason', 'the sealer runs at READ COMMITTED (each statement its own snapshot)'));
    END IF;
    IF NOT (pg_has_role(current_user, 'pg_read_all_stats', 'MEMBER')
            OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)) THEN
        PERFORM payments._fail('permission_denied', jsonb_build_object(
            'reason', 'the sealer''s owner must see every session: GRANT pg_read_all_stats'));
    END IF;
    v_cut := payments._seal_cut();
    SELECT * INTO v_prev FROM payments.checkpoints WHERE org_id IS NULL ORDER BY seq DESC LIMIT 1;
    v_prev_cut := coalesce(v_prev.cut_at, '-infinity');
    v_pseq := coalesce(v_prev.seq, 0) + 1;
    IF p_limit IS NOT NULL THEN
        -- Bound the run: move the cut back to just after the p_limit-th entry's time.
        SELECT least(v_cut, max(t.created_at) + interval '1 microsecond') INTO v_bound FROM (
            SELECT e.created_at FROM payments.entries e
             WHERE e.created_at >= v_prev_cut AND e.created_at < v_cut
             ORDER BY e.created_at LIMIT p_limit) t
        HAVING count(*) >= p_limit;
        v_cut := coalesce(v_bound, v_cut);
    END IF;
    -- The entries, each hashed with its lines (found by the lines' entry index, one entry at
    -- a time: the run's size is unknown to the planner), then one checkpoint per
    -- organization over the rows just inserted, each chained to its previous one.
    FOR c IN
        WITH todo AS (
            SELECT e.id, e.org_id, payments.entry_header_hash(e) AS header
              FROM payments.entries e
             WHERE e.created_at >= v_prev_cut AND e.created_at < v_cut
               AND NOT EXISTS (SELECT FROM payments.entry_seals s WHERE s.entry_id = e.id)
        ), chain AS (
            -- each organization's last checkpoint, through the chain's index
            SELECT o.org_id, (SELECT max(k.seq) FROM payments.checkpoints k
                               WHERE k.org_id = o.org_id) AS seq
              FROM (SELECT DISTINCT t.org_id FROM todo t) o
        ), sealed AS (
            INSERT INTO payments.entry_seals (entry_id, org_id, checkpoint_seq, platform_seq,
                                              header_hash, line_ids, line_hashes, hash)
            SELECT t.id, t.org_id, coalesce(ch.seq, 0) + 1, v_pseq, t.header,
                   coalesce(x.ids, '{}'), coalesce(x.hs, '{}'),
                   sha256(t.header || coalesce(x.joined, ''::bytea))
              FROM todo t
              CROSS JOIN LATERAL (
                  SELECT array_agg(q.id ORDER BY q.id) AS ids, array_agg(q.h ORDER BY q.id) AS hs,
                         string_agg(q.h, ''::bytea ORDER BY q.id) AS joined
                    FROM (SELECT l.id, payments.line_hash(l) AS h FROM payments.lines l
                           WHERE l.entry_id = t.id) q) x
              LEFT JOIN chain ch ON ch.org_id = t.org_id
            RETURNING entry_id, org_id, checkpoint_seq, hash
        ), runs AS (
            SELECT r.org_id, min(r.checkpoint_seq) AS seq, count(*) AS n,
                   string_agg(r.entry_id::text || ':' || encode(r.hash, 'hex'), ','
                              ORDER BY r.entry_id) AS members
              FROM sealed r GROUP BY r.org_id
        ), made AS (
            INSERT INTO payments.checkpoints (org_id, seq, previous_hash, hash, entry_count,
                                              cut_at, platform_seq)
            SELECT r.org_id, r.seq, p.hash,
                   payments._checkpoint_hash(r.org_id, r.seq, p.hash, v_cut, r.members),
                   r.n, v_cut, v_pseq
              FROM runs r
              LEFT JOIN payments.checkpoints p ON p.org_id = r.org_id AND p.seq = r.seq - 1
             ORDER BY r.org_id
            RETURNING *
        )
        SELECT * FROM made ORDER BY org_id
    LOOP
        v_sealed := v_sealed + c.entry_count;
        v_made := v_made || payments._checkpoint_event(c);
        PERFORM messaging.publish(c.org_id, 'ledger.checkpoint.sealed', 'checkpoint',
            c.org_id::text || ':' || c.seq, payments._checkpoint_event(c),
            format('ledger.checkpoint.sealed:%s:%s', c.org_id, c.seq));
    END LOOP;
    IF v_sealed = 0 THEN
        RETURN jsonb_build_object('busy', false, 'sealed', 0, 'checkpoints', '[]'::jsonb);
    END IF;
    SELECT string_agg(x ->> 'org_id' || ':' || (x ->> 'seq') || ':' || (x ->> 'hash'), ','
                      ORDER BY x ->> 'org_id')
      INTO v_members FROM jsonb_array_elements(v_made) x;
    INSERT INTO payments.checkpoints (org_id, seq, previous_hash, hash, entry_count, cut_at,
                                      platform_seq)
    VALUES (NULL, v_pseq, v_prev.hash,
            payments._checkpoint_hash(NULL, v_pseq, v_prev.hash, v_cut, v_members),
            v_sealed, v_cut, v_pseq)
    RETURNING * INTO c;
    v_made := v_made || payments._checkpoint_event(c);
    -- The platform's chain is published to the platform organization (its webhooks).
    -- None when no platform organization is registered: nothing to publish then.
    PERFORM messaging.publish(o.id,
        'ledger.checkpoint.sealed', 'checkpoint', 'platform:' || c.seq,
        payments._checkpoint_event(c), format('ledger.checkpoint.sealed:platform:%s', c.seq))
       FROM payments.organizations o WHERE o.is_platform;
    RETURN jsonb_build_object('busy', false, 'sealed', v_sealed, 'platform_seq', v_pseq,
                              'checkpoints', v_made);
END
$$;

--
-- Name: seal_counts(uuid); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments.seal_counts(p_org uuid DEFAULT NULL::uuid) RETURNS TABLE(entries bigint, lines bigint, checkpoints bigint, last_seq bigint)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    IF p_org IS NULL THEN
        PERFORM payments._check_platform();
    ELSE
        PERFORM payments._check_org(p_org);
    END IF;
    RETURN QUERY
    SELECT (SELECT count(*) FROM payments.entry_seals s WHERE p_org IS NULL OR s.org_id = p_org),
           (SELECT coalesce(sum(cardinality(s.line_ids)), 0)::bigint FROM payments.entry_seals s
             WHERE p_org IS NULL OR s.org_id = p_org),
           (SELECT count(*) FROM payments.checkpoints k WHERE p_org IS NULL OR k.org_id = p_org),
           (SELECT max(k.seq) FROM payments.checkpoints k
             WHERE k.org_id IS NOT DISTINCT FROM p_org);
END
$$;

--
-- Name: set_fx_rate(jsonb); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments.set_fx_rate(p jsonb) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    v_num numeric := (p ->> 'rate_numerator')::numeric;
    v_den numeric := (p ->> 'rate_denominator')::numeric;
    v_gcd numeric;
    v_row payments.fx_rates;
BEGIN
    IF NOT (payments.acting_as_platform()
            OR (payments.current_actor() IS NULL AND payments._trusted_caller())) THEN
        PERFORM payments._fail('permission_denied', jsonb_build_object(
            'reason', 'only the platform sets exchange rates'));
    END IF;
    IF v_num IS NULL OR v_den IS NULL OR v_num <= 0 OR v_den <= 0 OR v_num <> trunc(v_num)
       OR v_den <> trunc(v_den) OR v_num >= 1e18 OR v_den >= 1e18 THEN
        PERFORM payments._fail('invalid_rate', jsonb_build_object('value', p ->> 'rate_numerator'
            || '/' || (p ->> 'rate_denominator')));
    END IF;
    IF NOT EXISTS (SELECT FROM payments.currencies WHERE code = p ->> 'source_currency') THEN
        PERFORM payments._fail('unknown_currency', jsonb_build_object('currency', p ->> 'source_currency'));
    ELSIF NOT EXISTS (SELECT FROM payments.currencies WHERE code = p ->> 'target_currency') THEN
        PERFORM payments._fail('unknown_currency', jsonb_build_object('currency', p ->> 'target_currency'));
    ELSIF p ->> 'source_currency' = p ->> 'target_currency' THEN
        PERFORM payments._fail('same_currency', jsonb_build_object('currency', p ->> 'source_currency'));
    END IF;
    v_gcd := gcd(v_num, v_den);
    INSERT INTO payments.fx_rates (source_currency, target_currency, rate_numerator,
                                   rate_denominator, valid_from)
    VALUES (p ->> 'source_currency', p ->> 'target_currency', div(v_num, v_gcd), div(v_den, v_gcd),
            coalesce((p ->> 'valid_from')::timestamptz, now()))
    RETURNING * INTO v_row;
    RETURN to_jsonb(v_row);
END
$$;

--
-- Name: touch_api_key(text, text); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments.touch_api_key(p_prefix text, p_secret text) RETURNS void
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    UPDATE payments.api_keys k SET last_used_at = now()
     WHERE k.prefix = p_prefix AND k.revoked_at IS NULL
       AND k.secret_sha256 = encode(sha256(convert_to(p_secret, 'UTF8')), 'hex')
       AND (k.last_used_at IS NULL OR k.last_used_at < now() - interval '1 minute');
$$;

--
-- Name: verify_seals(uuid, integer); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments.verify_seals(p_org uuid DEFAULT NULL::uuid, p_limit integer DEFAULT 100) RETURNS TABLE(ord bigint, kind text, entry_id uuid, line_id bigint, org_id uuid, seq bigint, detail text)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET enable_nestloop TO 'off'
    AS $$
#variable_conflict use_column
BEGIN
    IF p_org IS NULL THEN
        PERFORM payments._check_platform();
    ELSE
        PERFORM payments._check_org(p_org);
    END IF;
    RETURN QUERY
    WITH sealed AS (
        SELECT s.* FROM payments.entry_seals s WHERE p_org IS NULL OR s.org_id = p_org
    ), now_lines AS (
        SELECT l.entry_id, array_agg(l.id ORDER BY l.id) AS ids,
               array_agg(payments.line_hash(l) ORDER BY l.id) AS hs
          FROM payments.lines l
         WHERE p_org IS NULL OR l.entry_org_id = p_org
         GROUP BY l.entry_id
    ), compared AS (
        SELECT s.*, e.id IS NOT NULL AS present,
               CASE WHEN e.id IS NOT NULL THEN payments.entry_header_hash(e) END AS now_header,
               coalesce(n.ids, '{}') AS now_ids, coalesce(n.hs, '{}') AS now_hs
          FROM sealed s
          LEFT JOIN payments.entries e ON e.id = s.entry_id
          LEFT JOIN now_lines n ON n.entry_id = s.entry_id
    ), entry_problems AS (
        SELECT c.platform_seq AS o1, c.entry_id AS o2,
               CASE WHEN NOT c.present THEN 'entry_missing'
                    WHEN c.now_header <> c.header_hash THEN 'entry_changed'
                    WHEN c.hash <> sha256(c.header_hash || coalesce((
                             SELECT string_agg(h, ''::bytea ORDER BY i)
                               FROM unnest(c.line_hashes) WITH ORDINALITY u(h, i)), ''::bytea))
                        THEN 'seal_changed'
                    ELSE d.kind END AS kind,
               c.entry_id, d.line_id, c.org_id, c.checkpoint_seq AS seq
          FROM compared c
          LEFT JOIN LATERAL payments._line_difference(c.line_ids, c.line_hashes, c.now_ids,
                                                      c.now_hs) d
            ON c.line_ids <> c.now_ids OR c.line_hashes <> c.now_hs
    ), last_cut AS (
        SELECT max(cut_at) AS cut FROM payments.checkpoints WHERE org_id IS NULL
    ), unsealed AS (
        -- An entry recorded before the last cut was sealed by then, unless written by hand.
        SELECT e.id AS entry_id, e.org_id
          FROM payments.entries e, last_cut k
         WHERE e.created_at < k.cut AND (p_org IS NULL OR e.org_id = p_org)
           AND NOT EXISTS (SELECT FROM payments.entry_seals s WHERE s.entry_id = e.id)
    ), orphans AS (
        SELECT l.id AS line_id, l.entry_id, l.entry_org_id AS org_id
          FROM payments.lines l
         WHERE (p_org IS NULL OR l.entry_org_id = p_org)
           AND NOT EXISTS (SELECT FROM payments.entries e WHERE e.id = l.entry_id)
    ), org_members AS (
        SELECT s.org_id, s.checkpoint_seq AS seq, count(*) AS n,
               string_agg(s.entry_id::text || ':' || encode(s.hash, 'hex'), ','
                          ORDER BY s.entry_id) AS members
          FROM payments.entry_seals s
         WHERE p_org IS NULL OR s.org_id = p_org
         GROUP BY s.org_id, s.checkpoint_seq
    ), platform_counts AS (
        SELECT s.platform_seq AS seq, count(*) AS n FROM payments.entry_seals s
         WHERE p_org IS NULL GROUP BY s.platform_seq
    ), platform_members AS (
        SELECT o.platform_seq AS seq,
               string_agg(o.org_id::text || ':' || o.seq || ':' || encode(o.hash, 'hex'), ','
                          ORDER BY o.org_id) AS members
          FROM payments.checkpoints o
         WHERE p_org IS NULL AND o.org_id IS NOT NULL GROUP BY o.platform_seq
    ), chains AS (
        SELECT k.*, lag(k.hash) OVER w AS before_hash, lag(k.seq) OVER w AS before_seq,
               CASE WHEN k.org_id IS NULL THEN pm.members ELSE om.members END AS members,
               coalesce(CASE WHEN k.org_id IS NULL THEN pc.n ELSE om.n END, 0) AS members_count
          FROM payments.checkpoints k
          LEFT JOIN org_members om ON om.org_id = k.org_id AND om.seq = k.seq
          LEFT JOIN platform_members pm ON k.org_id IS NULL AND pm.seq = k.seq
          LEFT JOIN platform_counts pc ON k.org_id IS NULL AND pc.seq = k.seq
         WHERE (p_org IS NULL OR k.org_id = p_org)
        WINDOW w AS (PARTITION BY k.org_id ORDER BY k.seq)
    ), published AS (
        SELECT m.dedup_key, m.payload ->> 'hash' AS hash FROM messaging.messages m
         WHERE m.type = 'ledger.checkpoint.sealed'
    ), chain_problems AS (
        SELECT k.org_id, k.seq,
               CASE WHEN k.seq <> coalesce(k.before_seq, 0) + 1 THEN 'checkpoint_missing'
                    WHEN k.previous_hash IS DISTINCT FROM k.before_hash THEN 'checkpoint_unlinked'
                    WHEN k.hash <> payments._checkpoint_hash(k.org_id, k.seq, k.previous_hash,
                                                             k.cut_at, k.members)
                        OR k.entry_count <> k.members_count THEN 'checkpoint_changed'
                    WHEN p.hash <> encode(k.hash, 'hex')
                        THEN 'checkpoint_differs_from_published'
               END AS kind
          FROM chains k
          LEFT JOIN published p ON p.dedup_key = format('ledger.checkpoint.sealed:%s:%s',
                                                        coalesce(k.org_id::text, 'platform'), k.seq)
    ), everything AS (
        SELECT 1 AS part, p.o1, p.o2::text AS o2, p.kind, p.entry_id,
               CASE WHEN p.kind LIKE 'line%' THEN p.line_id END AS line_id, p.org_id,
               p.seq, NULL::text AS detail
          FROM entry_problems p WHERE p.kind IS NOT NULL
        UNION ALL
        SELECT 2, 0, u.entry_id::text, 'entry_not_sealed', u.entry_id, NULL, u.org_id, NULL,
               'recorded before the last checkpoint''s cut, yet in no checkpoint'
          FROM unsealed u
        UNION ALL
        SELECT 3, o.line_id, o.entry_id::text, 'line_without_entry', o.entry_id, o.line_id,
               o.org_id, NULL, NULL
          FROM orphans o
        UNION ALL
        SELECT 4, c.seq, coalesce(c.org_id::text, '~'), c.kind, NULL, NULL, c.org_id, c.seq,
               CASE WHEN c.org_id IS NULL THEN 'the platform''s chain' END
          FROM chain_problems c WHERE c.kind IS NOT NULL
    )
    SELECT row_number() OVER (ORDER BY x.part, x.o1, x.o2, x.line_id), x.kind, x.entry_id,
           x.line_id, x.org_id, x.seq, x.detail
      FROM everything x
     ORDER BY x.part, x.o1, x.o2, x.line_id
     LIMIT p_limit;
END
$$;

--
-- Name: wal_receiver(); Type: FUNCTION; Schema: payments; Owner: -
--

CREATE FUNCTION payments.wal_receiver() RETURNS TABLE(pid integer, status text, last_msg_receipt_time timestamp with time zone)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT pid, status, last_msg_receipt_time FROM pg_catalog.pg_stat_wal_receiver
$$;

--
-- Name: current_org_id(); Type: FUNCTION; Schema: ticketing; Owner: -
--

CREATE FUNCTION ticketing.current_org_id() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL RESTRICTED
    AS $$ SELECT nullif(payments.current_actor(), 'platform')::uuid $$;

--
-- Name: filter_only(uuid); Type: FUNCTION; Schema: ticketing; Owner: -
--

CREATE FUNCTION ticketing.filter_only(p_value uuid) RETURNS uuid
    LANGUAGE plpgsql
    AS $$
BEGIN
    RETURN p_value;
END
$$;

--
-- Name: hold_checkout(integer, uuid, uuid, bigint, uuid, uuid, text, text, bigint, interval, text, text, text[]); Type: FUNCTION; Schema: ticketing; Owner: -
--

CREATE FUNCTION ticketing.hold_checkout(p_n integer, p_type uuid, p_event uuid, p_price bigint, p_order uuid, p_org uuid, p_buyer text, p_currency text, p_amount bigint, p_hold interval, p_key text, p_hash text, p_codes text[]) RETURNS TABLE(hold_expires_at timestamp with time zone, seats_left integer, on_sale boolean)
    LANGUAGE sql
    AS $$
    SELECT set_config('synchronous_commit', 'off', true);
    SELECT h.hold_expires_at, h.seats_left, h.on_sale
      FROM ticketing.hold_order(p_n, p_type, p_event, p_price, p_order, p_org, p_buyer,
                                p_currency, p_amount, p_hold, p_key, p_hash, p_codes) h
     WHERE h.hold_expires_at IS NOT NULL OR h.on_sale IS NOT NULL
$$;

--
-- Name: hold_order(integer, uuid, uuid, bigint, uuid, uuid, text, text, bigint, interval, text, text, text[]); Type: FUNCTION; Schema: ticketing; Owner: -
--

CREATE FUNCTION ticketing.hold_order(p_n integer, p_type uuid, p_event uuid, p_price bigint, p_order uuid, p_org uuid, p_buyer text, p_currency text, p_amount bigint, p_hold interval, p_key text, p_hash text, p_codes text[], OUT hold_expires_at timestamp with time zone, OUT seats_left integer, OUT on_sale boolean) RETURNS record
    LANGUAGE plpgsql
    AS $$
#variable_conflict use_column
BEGIN
    UPDATE ticketing.ticket_types tt SET held = tt.held + p_n
     WHERE tt.id = p_type AND tt.org_id = p_org AND tt.event_id = p_event
       AND tt.price = p_price AND now() >= tt.sales_start AND now() < tt.sales_end
       AND tt.held + tt.sold + p_n <= tt.capacity;
    IF FOUND THEN
        INSERT INTO ticketing.orders AS o
            (id, org_id, event_id, buyer_email, currency, amount, hold_expires_at,
             idempotency_key, request_hash)
        VALUES (p_order, p_org, p_event, p_buyer, p_currency, p_amount, now() + p_hold,
                p_key, p_hash)
        RETURNING o.hold_expires_at INTO hold_expires_at;
        INSERT INTO ticketing.tickets
            (order_id, org_id, event_id, ticket_type_id, code, holder_email, price)
        SELECT p_order, p_org, p_event, p_type, c.code, p_buyer, p_price
          FROM unnest(p_codes) AS c(code);
        RETURN;
    END IF;
    SELECT tt.capacity - tt.held - tt.sold, now() >= tt.sales_start AND now() < tt.sales_end
      INTO seats_left, on_sale
      FROM ticketing.ticket_types tt
     WHERE tt.id = p_type AND tt.org_id = p_org AND tt.event_id = p_event;
END
$$;

--
-- Name: open_and_hold_checkout(boolean, uuid, uuid, uuid, integer, uuid, text, interval, text, text, text[]); Type: FUNCTION; Schema: ticketing; Owner: -
--

CREATE FUNCTION ticketing.open_and_hold_checkout(p_go boolean, p_org uuid, p_event uuid, p_type uuid, p_n integer, p_order uuid, p_buyer text, p_hold interval, p_key text, p_hash text, p_codes text[]) RETURNS TABLE(acting_org uuid, order_id uuid, order_amount bigint, order_currency text, payment_intent_id text, client_secret text, hold_expires_at timestamp with time zone, request_hash text, status text, order_event_id uuid, order_ends_at timestamp with time zone, event_id uuid, currency text, ends_at timestamp with time zone, cancelled_at timestamp with time zone, type_ids uuid[], prices bigint[], held_until timestamp with time zone, seats_left integer, on_sale boolean)
    LANGUAGE plpgsql ROWS 1
    AS $$
BEGIN
    IF coalesce(p_go, false) AND p_org = ticketing.current_org_id() THEN
        RETURN QUERY SELECT * FROM ticketing.open_and_hold_checkout_for(
            p_org, p_event, p_type, p_n, p_order, p_buyer, p_hold, p_key, p_hash, p_codes);
        RETURN;
    END IF;
    RETURN NEXT;
END
$$;

--
-- Name: open_and_hold_checkout_for(uuid, uuid, uuid, integer, uuid, text, interval, text, text, text[]); Type: FUNCTION; Schema: ticketing; Owner: -
--

CREATE FUNCTION ticketing.open_and_hold_checkout_for(p_org uuid, p_event uuid, p_type uuid, p_n integer, p_order uuid, p_buyer text, p_hold interval, p_key text, p_hash text, p_codes text[]) RETURNS TABLE(acting_org uuid, order_id uuid, order_amount bigint, order_currency text, payment_intent_id text, client_secret text, hold_expires_at timestamp with time zone, request_hash text, status text, order_event_id uuid, order_ends_at timestamp with time zone, event_id uuid, currency text, ends_at timestamp with time zone, cancelled_at timestamp with time zone, type_ids uuid[], prices bigint[], held_until timestamp with time zone, seats_left integer, on_sale boolean)
    LANGUAGE plpgsql ROWS 1
    AS $$
#variable_conflict use_column
DECLARE
    v_hold record;
    v_sync text;
BEGIN
    -- The opening read in the statements the usual checkout needs (session 36), not one
    -- statement of three joined reads: the order stored under the key alone (its event's end
    -- read only when there is one: a replay), then the event FOR SHARE with the type's price,
    -- one join. The joined form planned, started and projected every branch for every hold,
    -- the order's event included, which a new order never reads (cachegrind on the backend
    -- of the hold and the record, the payment on another connection, 80 checkouts per
    -- session pair, one database, variants interleaved: 1,066K and 1,080K -> 1,025K and
    -- 1,015K instructions per checkout). Same rows (tests/ticketing_core/test_opening_rows):
    -- the order found by its key, with its event's end (an order's event is never deleted:
    -- orders_event_id_fkey);
    -- the event and the type read as of the lock's statement (a cancellation committed while
    -- the lock waited is seen, as before); a new order of the same key committed meanwhile
    -- fails the order's insert on orders_key, as when it committed before the hold.
    acting_org := p_org;
    SELECT o.id, o.amount, o.currency, o.payment_intent_id, o.client_secret,
           o.hold_expires_at, o.request_hash, o.status, o.event_id
      INTO order_id, order_amount, order_currency, payment_intent_id, client_secret,
           hold_expires_at, request_hash, status, order_event_id
      FROM ticketing.orders o
     WHERE o.org_id = p_org AND o.idempotency_key = p_key;
    IF FOUND THEN
        SELECT oe.ends_at INTO order_ends_at FROM ticketing.events oe
         WHERE oe.id = order_event_id AND oe.org_id = p_org;
    END IF;
    SELECT ev.id, ev.currency, ev.ends_at, ev.cancelled_at,
           CASE WHEN tt.id IS NOT NULL THEN ARRAY[tt.id] END,
           CASE WHEN tt.id IS NOT NULL THEN ARRAY[tt.price::bigint] END
      INTO event_id, currency, ends_at, cancelled_at, type_ids, prices
      FROM ticketing.events ev
      LEFT JOIN ticketing.ticket_types tt
        ON tt.id = p_type AND tt.event_id = p_event AND tt.org_id = p_org
     WHERE ev.id = p_event AND ev.org_id = p_org
       FOR SHARE OF ev;
    IF order_id IS NULL AND event_id IS NOT NULL AND cancelled_at IS NULL
       AND prices IS NOT NULL THEN
        -- An assignment (a simple expression), not PERFORM: PERFORM runs its expression as
        -- a query, with an executor started and ended around it (session 35: ~40-70K backend
        -- instructions per hold).
        v_sync := set_config('synchronous_commit', 'off', true);
        -- An assignment, evaluated as a simple expression: no executor of its own.
        v_hold := ticketing.hold_order(p_n, p_type, p_event, prices[1], p_order, p_org,
                                       p_buyer, currency, prices[1] * p_n, p_hold, p_key,
                                       p_hash, p_codes);
        held_until := v_hold.hold_expires_at;
        seats_left := v_hold.seats_left;
        on_sale := v_hold.on_sale;
    END IF;
    RETURN NEXT;
END
$$;

--
-- Name: open_checkout(uuid, text, uuid[]); Type: FUNCTION; Schema: ticketing; Owner: -
--

CREATE FUNCTION ticketing.open_checkout(p_event uuid, p_key text, p_ids uuid[]) RETURNS TABLE(acting_org uuid, order_id uuid, order_amount bigint, order_currency text, payment_intent_id text, client_secret text, hold_expires_at timestamp with time zone, request_hash text, status text, order_event_id uuid, order_ends_at timestamp with time zone, event_id uuid, currency text, ends_at timestamp with time zone, cancelled_at timestamp with time zone, type_ids uuid[], prices bigint[])
    LANGUAGE sql
    AS $$
    SELECT * FROM ticketing.open_checkout_for(ticketing.current_org_id(), p_event, p_key, p_ids)
$$;

--
-- Name: open_checkout_for(uuid, uuid, text, uuid[]); Type: FUNCTION; Schema: ticketing; Owner: -
--

CREATE FUNCTION ticketing.open_checkout_for(p_org uuid, p_event uuid, p_key text, p_ids uuid[]) RETURNS TABLE(acting_org uuid, order_id uuid, order_amount bigint, order_currency text, payment_intent_id text, client_secret text, hold_expires_at timestamp with time zone, request_hash text, status text, order_event_id uuid, order_ends_at timestamp with time zone, event_id uuid, currency text, ends_at timestamp with time zone, cancelled_at timestamp with time zone, type_ids uuid[], prices bigint[])
    LANGUAGE plpgsql
    AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH e AS (
        SELECT ev.id, ev.currency, ev.ends_at, ev.cancelled_at FROM ticketing.events ev
         WHERE ev.id = p_event AND ev.org_id = p_org FOR SHARE
    ), o AS (
        SELECT o.id, o.amount, o.currency, o.payment_intent_id, o.client_secret,
               o.hold_expires_at, o.request_hash, o.status, o.event_id, oe.ends_at
          FROM ticketing.orders o
          JOIN ticketing.events oe ON oe.id = o.event_id AND oe.org_id = p_org
         WHERE o.org_id = p_org AND o.idempotency_key = p_key
    )
    -- The domains' values as their base types: RETURN QUERY wants the declared types.
    SELECT p_org, o.id, o.amount::bigint, o.currency, o.payment_intent_id, o.client_secret,
           o.hold_expires_at, o.request_hash, o.status::text, o.event_id, o.ends_at,
           e.id, e.currency, e.ends_at, e.cancelled_at, p.type_ids, p.prices
      FROM (VALUES (1)) AS one (x)
      LEFT JOIN o ON true
      LEFT JOIN e ON true
      LEFT JOIN LATERAL (
          SELECT array_agg(t.id ORDER BY t.id) AS type_ids,
                 array_agg(t.price::bigint ORDER BY t.id) AS prices
            FROM ticketing.ticket_types t
           WHERE t.id = ANY(p_ids) AND t.event_id = p_event AND t.org_id = p_org
      ) p ON true;
END
$$;

--
-- Name: refuse_change(); Type: FUNCTION; Schema: ticketing; Owner: -
--

CREATE FUNCTION ticketing.refuse_change() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'LXT01', MESSAGE = 'reference_change_refused',
        DETAIL = format('%s on ticketing.%s is refused: tickets name their order, type and'
                        ' event by these keys', TG_OP, TG_TABLE_NAME);
END
$$;

--
-- Name: refuse_named_removal(); Type: FUNCTION; Schema: ticketing; Owner: -
--

CREATE FUNCTION ticketing.refuse_named_removal() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    v_key text;
    v_name text;
BEGIN
    IF pg_catalog.current_setting('transaction_isolation') <> 'read committed'
       AND EXISTS (SELECT FROM removed) THEN
        RAISE EXCEPTION USING ERRCODE = 'LXT02', MESSAGE = 'delete_needs_read_committed',
            DETAIL = format('DELETE on ticketing.%s must run at READ COMMITTED (this'
                            ' transaction is %s): the check for tickets naming the deleted'
                            ' rows needs a fresh snapshot', TG_TABLE_NAME,
                            upper(pg_catalog.current_setting('transaction_isolation')));
    END IF;
    IF TG_TABLE_NAME = 'orders' THEN
        SELECT format('(order_id, org_id)=(%s, %s)', t.order_id, t.org_id) INTO v_key
          FROM removed r JOIN ticketing.tickets t ON t.order_id = r.id AND t.org_id = r.org_id
         LIMIT 1;
    ELSE
        SELECT format('(replaces, org_id)=(%s, %s)', t.replaces, t.org_id) INTO v_key
          FROM removed r JOIN ticketing.tickets t ON t.replaces = r.id AND t.org_id = r.org_id
         LIMIT 1;
    END IF;
    IF v_key IS NOT NULL THEN
        v_name := CASE TG_TABLE_NAME WHEN 'orders' THEN 'tickets_order_id_fkey'
                                     ELSE 'tickets_replaces_fkey' END;
        RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation', SCHEMA = 'ticketing',
            TABLE = 'tickets', CONSTRAINT = v_name,
            MESSAGE = format('delete on table "%s" violates foreign key constraint "%s" on'
                             ' table "tickets"', TG_TABLE_NAME, v_name),
            DETAIL = format('Key %s is still referenced from table "tickets".', v_key);
    END IF;
    RETURN NULL;
END
$$;

--
-- Name: refuse_window(); Type: FUNCTION; Schema: ticketing; Owner: -
--

CREATE FUNCTION ticketing.refuse_window() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'check_violation', SCHEMA = 'ticketing',
        TABLE = 'ticket_types', CONSTRAINT = 'ticket_types_window',
        MESSAGE = 'new row for relation "ticket_types" violates check constraint'
                  ' "ticket_types_window"',
        DETAIL = format('sales_start %s is not before sales_end %s.', NEW.sales_start,
                        NEW.sales_end);
END
$$;

--
-- Name: tickets_references(); Type: FUNCTION; Schema: ticketing; Owner: -
--

CREATE FUNCTION ticketing.tickets_references() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET enable_seqscan TO 'off'
    AS $$
DECLARE
    v_org uuid;
    v_name text;
    v_key text;
    -- This transaction's id: an order (or a ticket) it wrote itself needs no lock (below).
    -- xmin is 32 bits and a frozen row keeps its raw xmin, so a row ~2**32 transactions old
    -- can show this id: the row must also be of this transaction's moment (created_at is
    -- now() by default and no writer sets it), which no older row is.
    v_xid xid := pg_catalog.xid(pg_catalog.pg_current_xact_id());
BEGIN
    -- Organization by organization (a statement's rows are one organization's: a checkout's,
    -- a transfer's), so that every lookup is pinned to one (docs/scaling.md).
    FOR v_org IN SELECT DISTINCT t.org_id FROM added t LOOP
        -- The usual case first (session 35): every ticket's order this transaction's own (the
        -- checkout's hold writes the order, then its tickets), its type with its event there,
        -- no ticket replaced. One plain lookup per reference, no lock, and the full check
        -- below (its plan of three branches, the locks' subplans, the error's text), which
        -- would find nothing and lock nothing either, is not started.
        IF NOT EXISTS (SELECT FROM added t
                        WHERE t.org_id = v_org
                          AND (t.replaces IS NOT NULL
                               OR NOT EXISTS (SELECT FROM ticketing.orders o
                                               WHERE o.id = t.order_id
                                                 AND o.org_id = ticketing.filter_only(v_org)
                                                 AND o.xmin = v_xid AND o.created_at = now())
                               OR NOT EXISTS (SELECT FROM ticketing.ticket_types y
                                               WHERE y.id = t.ticket_type_id
                                                 AND y.event_id = t.event_id
                                                 AND y.org_id = ticketing.filter_only(v_org)))) THEN
            CONTINUE;
        END IF;
        SELECT k.name, k.key INTO v_name, v_key
          FROM (SELECT 'tickets_order_id_fkey' AS name,
                       format('(order_id, org_id)=(%s, %s)', t.order_id, t.org_id) AS key
                  FROM added t
                 WHERE t.org_id = v_org
                   -- An order this transaction wrote (at its top level: xmin is its id; the
                   -- checkout's hold writes the order, then its tickets) cannot be deleted by
                   -- another before this one commits (none sees it), so it is only looked
                   -- up; any other is locked FOR KEY SHARE as a key's check locks it. CASE:
                   -- the lookup first, the lock only if it found none.
                   AND CASE WHEN EXISTS (SELECT FROM ticketing.orders o
                                          WHERE o.id = t.order_id
                                            AND o.org_id = ticketing.filter_only(v_org)
                                            AND o.xmin = v_xid AND o.created_at = now())
                            THEN false
                            ELSE NOT EXISTS (SELECT FROM ticketing.orders o
                                              WHERE o.id = t.order_id
                                                AND o.org_id = ticketing.filter_only(v_org)
                                                FOR KEY SHARE) END
                UNION ALL
                SELECT 'tickets_ticket_type_id_fkey',
                       format('(ticket_type_id, event_id, org_id)=(%s, %s, %s)',
                              t.ticket_type_id, t.event_id, t.org_id)
                  FROM added t
                 WHERE t.org_id = v_org
                   AND NOT EXISTS (SELECT FROM ticketing.ticket_types y
                                    WHERE y.id = t.ticket_type_id AND y.event_id = t.event_id
                                      AND y.org_id = ticketing.filter_only(v_org))
                UNION ALL
                SELECT 'tickets_replaces_fkey',
                       format('(replaces, org_id)=(%s, %s)', t.replaces, t.org_id)
                  FROM added t
                 WHERE t.org_id = v_org AND t.replaces IS NOT NULL
                   AND CASE WHEN EXISTS (SELECT FROM ticketing.tickets r
                                          WHERE r.id = t.replaces
                                            AND r.org_id = ticketing.filter_only(v_org)
                                            AND r.xmin = v_xid AND r.created_at = now())
                            THEN false
                            ELSE NOT EXISTS (SELECT FROM ticketing.tickets r
                                              WHERE r.id = t.replaces
                                                AND r.org_id = ticketing.filter_only(v_org)
                                                FOR KEY SHARE) END) k
         LIMIT 1;
        IF v_name IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation', SCHEMA = 'ticketing',
                TABLE = 'tickets', CONSTRAINT = v_name,
                MESSAGE = format('insert on table "tickets" violates foreign key constraint'
                                 ' "%s"', v_name),
                DETAIL = format('Key %s is not present.', v_key);
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;

--
-- Name: attempts; Type: TABLE; Schema: messaging; Owner: -
--

CREATE TABLE messaging.attempts (
    id bigint NOT NULL,
    delivery_id bigint NOT NULL,
    org_id uuid NOT NULL,
    attempt integer NOT NULL,
    worker text NOT NULL,
    started_at timestamp with time zone NOT NULL,
    duration_ms integer NOT NULL,
    status_code integer,
    response_body text,
    error text,
    succeeded boolean NOT NULL
);

--
-- Name: attempts_id_seq; Type: SEQUENCE; Schema: messaging; Owner: -
--

ALTER TABLE messaging.attempts ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME messaging.attempts_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

--
-- Name: deliveries; Type: TABLE; Schema: messaging; Owner: -
--

CREATE TABLE messaging.deliveries (
    id bigint NOT NULL,
    message_id uuid NOT NULL,
    org_id uuid NOT NULL,
    channel messaging.delivery_channel NOT NULL,
    endpoint_id uuid,
    recipient text,
    subject text,
    body text,
    target text NOT NULL,
    aggregate_key text NOT NULL,
    status messaging.delivery_status DEFAULT 'pending'::text NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    next_attempt_at timestamp with time zone DEFAULT now() NOT NULL,
    lease_expires_at timestamp with time zone,
    leased_by text,
    last_error text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    finished_at timestamp with time zone
);

--
-- Name: deliveries_id_seq; Type: SEQUENCE; Schema: messaging; Owner: -
--

ALTER TABLE messaging.deliveries ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME messaging.deliveries_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

--
-- Name: endpoint_secrets; Type: TABLE; Schema: messaging; Owner: -
--

CREATE TABLE messaging.endpoint_secrets (
    id bigint NOT NULL,
    endpoint_id uuid NOT NULL,
    org_id uuid NOT NULL,
    secret text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    expires_at timestamp with time zone,
    CONSTRAINT endpoint_secrets_sealed CHECK ((secret ~~ 'lxs1:%'::text))
);

--
-- Name: endpoint_secrets_id_seq; Type: SEQUENCE; Schema: messaging; Owner: -
--

ALTER TABLE messaging.endpoint_secrets ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME messaging.endpoint_secrets_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

--
-- Name: endpoints; Type: TABLE; Schema: messaging; Owner: -
--

CREATE TABLE messaging.endpoints (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    org_id uuid NOT NULL,
    url text NOT NULL,
    event_types text[] DEFAULT '{}'::text[] NOT NULL,
    enabled boolean DEFAULT true NOT NULL,
    disabled_reason text,
    description text DEFAULT ''::text NOT NULL,
    failing_since timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT endpoints_url_check CHECK ((url ~ '^https?://'::text))
);

--
-- Name: inbox; Type: TABLE; Schema: messaging; Owner: -
--

CREATE TABLE messaging.inbox (
    source text NOT NULL,
    event_id text NOT NULL,
    org_id uuid NOT NULL,
    type text NOT NULL,
    payload jsonb NOT NULL,
    received_at timestamp with time zone DEFAULT now() NOT NULL,
    status messaging.inbox_status DEFAULT 'pending'::text NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    deferrals messaging.deferral_count DEFAULT 0 NOT NULL,
    next_attempt_at timestamp with time zone DEFAULT now() NOT NULL,
    last_error text,
    handled_at timestamp with time zone
);

--
-- Name: inbox_cursors; Type: TABLE; Schema: messaging; Owner: -
--

CREATE TABLE messaging.inbox_cursors (
    source text NOT NULL,
    caught_up_to bigint,
    walk_from bigint,
    walk_below bigint,
    walk_top bigint,
    read_at timestamp with time zone DEFAULT '-infinity'::timestamp with time zone NOT NULL,
    CONSTRAINT inbox_cursors_walk CHECK ((((walk_from IS NULL) = (walk_below IS NULL)) AND ((walk_from IS NULL) = (walk_top IS NULL))))
);

--
-- Name: inbox_secrets; Type: TABLE; Schema: messaging; Owner: -
--

CREATE TABLE messaging.inbox_secrets (
    source text NOT NULL,
    inner_pad bytea NOT NULL,
    outer_pad bytea NOT NULL,
    tolerance_s integer DEFAULT 300 NOT NULL,
    CONSTRAINT inbox_secrets_inner_pad_check CHECK ((length(inner_pad) = 64)),
    CONSTRAINT inbox_secrets_outer_pad_check CHECK ((length(outer_pad) = 64)),
    CONSTRAINT inbox_secrets_tolerance_s_check CHECK (((tolerance_s >= 1) AND (tolerance_s <= 86400)))
);

--
-- Name: messages; Type: TABLE; Schema: messaging; Owner: -
--

CREATE TABLE messaging.messages (
    id uuid NOT NULL,
    org_id uuid NOT NULL,
    type messaging.message_type NOT NULL,
    aggregate_type text NOT NULL,
    aggregate_id text NOT NULL,
    payload jsonb NOT NULL,
    dedup_key text,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);

--
-- Name: account_balances; Type: VIEW; Schema: payments; Owner: -
--

CREATE VIEW payments.account_balances WITH (security_invoker='true') AS
 SELECT a.id AS account_id,
    a.org_id,
    a.currency,
    a.normal_side,
    (((a.posted_debits)::numeric + COALESCE(u.debits, (0)::numeric)))::bigint AS posted_debits,
    (((a.posted_credits)::numeric + COALESCE(u.credits, (0)::numeric)))::bigint AS posted_credits,
    a.pending_debits,
    a.pending_credits,
    a.version
   FROM (payments.accounts a
     LEFT JOIN LATERAL ( SELECT sum(l.amount) FILTER (WHERE (l.side = 'debit'::text)) AS debits,
            sum(l.amount) FILTER (WHERE (l.side = 'credit'::text)) AS credits
           FROM payments.lines l
          WHERE (a.high_volume AND (l.account_id = a.id) AND (l.account_version IS NULL))) u ON (true));

--
-- Name: account_categories; Type: TABLE; Schema: payments; Owner: -
--

CREATE TABLE payments.account_categories (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    org_id uuid NOT NULL,
    code text NOT NULL,
    name text NOT NULL,
    currency text NOT NULL,
    normal_side text NOT NULL,
    metadata jsonb DEFAULT '{}'::jsonb NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT account_categories_code_check CHECK (((code <> ''::text) AND (length(code) <= 255))),
    CONSTRAINT account_categories_normal_side_check CHECK ((normal_side = ANY (ARRAY['debit'::text, 'credit'::text])))
);

--
-- Name: api_idempotency; Type: TABLE; Schema: payments; Owner: -
--

CREATE TABLE payments.api_idempotency (
    scope text NOT NULL,
    key text NOT NULL,
    method text NOT NULL,
    path text NOT NULL,
    request_sha256 text NOT NULL,
    status integer NOT NULL,
    content_type text NOT NULL,
    response json NOT NULL,
    location text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT api_idempotency_key_check CHECK ((key <> ''::text)),
    CONSTRAINT api_idempotency_location_check CHECK ((location <> ''::text)),
    CONSTRAINT api_idempotency_status_check CHECK (((status >= 200) AND (status <= 599)))
);

--
-- Name: api_keys; Type: TABLE; Schema: payments; Owner: -
--

CREATE TABLE payments.api_keys (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    org_id uuid,
    prefix text NOT NULL,
    secret_sha256 text NOT NULL,
    description text DEFAULT ''::text NOT NULL,
    scope text DEFAULT 'full'::text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    last_used_at timestamp with time zone,
    revoked_at timestamp with time zone,
    CONSTRAINT api_keys_prefix_check CHECK ((prefix ~ '^[0-9a-f]{12}$'::text)),
    CONSTRAINT api_keys_scope_check CHECK ((scope = ANY (ARRAY['full'::text, 'read_only'::text]))),
    CONSTRAINT api_keys_secret_sha256_check CHECK ((secret_sha256 ~ '^[0-9a-f]{64}$'::text))
);

--
-- Name: card_disputes; Type: TABLE; Schema: payments; Owner: -
--

CREATE TABLE payments.card_disputes (
    id text NOT NULL,
    payment_id text NOT NULL,
    org_id uuid NOT NULL,
    escrow_id uuid NOT NULL,
    amount bigint NOT NULL,
    status text DEFAULT 'open'::text NOT NULL,
    withdrawn boolean DEFAULT false NOT NULL,
    reinstated boolean DEFAULT false NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT card_disputes_amount_check CHECK ((amount > 0)),
    CONSTRAINT card_disputes_status_check CHECK ((status = ANY (ARRAY['open'::text, 'won'::text, 'lost'::text])))
);

--
-- Name: card_payments; Type: TABLE; Schema: payments; Owner: -
--

CREATE TABLE payments.card_payments (
    id text NOT NULL,
    org_id uuid NOT NULL,
    escrow_id uuid NOT NULL,
    charge_id text,
    balance_transaction_id text,
    currency text NOT NULL,
    gross payments.escrow_gross NOT NULL,
    platform_fee payments.escrow_sum NOT NULL,
    stripe_fee payments.escrow_sum NOT NULL,
    bears_stripe_fees boolean NOT NULL,
    refund_platform_fee boolean NOT NULL,
    refunded payments.escrow_sum DEFAULT 0 NOT NULL,
    entry_id uuid,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT card_payments_refunds_within_gross CHECK (((refunded)::bigint <= (gross)::bigint))
);

--
-- Name: card_refunds; Type: TABLE; Schema: payments; Owner: -
--

CREATE TABLE payments.card_refunds (
    id text NOT NULL,
    payment_id text NOT NULL,
    org_id uuid NOT NULL,
    amount bigint NOT NULL,
    fee_back bigint NOT NULL,
    charged_to text NOT NULL,
    failed boolean DEFAULT false NOT NULL,
    entry_id uuid,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT card_refunds_amount_check CHECK ((amount > 0)),
    CONSTRAINT card_refunds_charged_to_check CHECK ((charged_to = ANY (ARRAY['escrow'::text, 'receivable'::text]))),
    CONSTRAINT card_refunds_fee_back_check CHECK ((fee_back >= 0))
);

--
-- Name: category_members; Type: TABLE; Schema: payments; Owner: -
--

CREATE TABLE payments.category_members (
    id bigint NOT NULL,
    category_id uuid NOT NULL,
    org_id uuid NOT NULL,
    currency text NOT NULL,
    account_id uuid,
    member_category_id uuid,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT category_members_not_itself CHECK ((member_category_id <> category_id)),
    CONSTRAINT category_members_one_member CHECK (((account_id IS NULL) <> (member_category_id IS NULL)))
);

--
-- Name: category_members_id_seq; Type: SEQUENCE; Schema: payments; Owner: -
--

ALTER TABLE payments.category_members ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME payments.category_members_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

--
-- Name: checkpoints_id_seq; Type: SEQUENCE; Schema: payments; Owner: -
--

ALTER TABLE payments.checkpoints ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME payments.checkpoints_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

--
-- Name: conversions; Type: TABLE; Schema: payments; Owner: -
--

CREATE TABLE payments.conversions (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    org_id uuid NOT NULL,
    idempotency_key text NOT NULL,
    request_hash text NOT NULL,
    source_account_id uuid NOT NULL,
    target_account_id uuid NOT NULL,
    source_currency text NOT NULL,
    target_currency text NOT NULL,
    source_exponent smallint NOT NULL,
    target_exponent smallint NOT NULL,
    source_amount bigint NOT NULL,
    target_amount bigint NOT NULL,
    rate_numerator numeric NOT NULL,
    rate_denominator numeric NOT NULL,
    rate text NOT NULL,
    source_entry_id uuid NOT NULL,
    target_entry_id uuid NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT conversions_idempotency_key_check CHECK ((idempotency_key <> ''::text)),
    CONSTRAINT conversions_rate_denominator_check CHECK (((rate_denominator > (0)::numeric) AND (rate_denominator = trunc(rate_denominator)))),
    CONSTRAINT conversions_rate_numerator_check CHECK (((rate_numerator > (0)::numeric) AND (rate_numerator = trunc(rate_numerator)))),
    CONSTRAINT conversions_rounded_down CHECK ((((((target_amount)::numeric * rate_denominator) * power((10)::numeric, (source_exponent)::numeric)) <= (((source_amount)::numeric * rate_numerator) * power((10)::numeric, (target_exponent)::numeric))) AND ((((source_amount)::numeric * rate_numerator) * power((10)::numeric, (target_exponent)::numeric)) < ((((target_amount)::numeric + (1)::numeric) * rate_denominator) * power((10)::numeric, (source_exponent)::numeric))))),
    CONSTRAINT conversions_source_amount_check CHECK ((source_amount > 0)),
    CONSTRAINT conversions_target_amount_check CHECK ((target_amount > 0)),
    CONSTRAINT conversions_two_currencies CHECK ((source_currency <> target_currency))
);

--
-- Name: currencies; Type: TABLE; Schema: payments; Owner: -
--

CREATE TABLE payments.currencies (
    code text NOT NULL,
    exponent smallint NOT NULL,
    CONSTRAINT currencies_code_check CHECK ((code ~ '^[A-Z]{3}$'::text)),
    CONSTRAINT currencies_exponent_check CHECK (((exponent >= 0) AND (exponent <= 4)))
);

--
-- Name: entries_to_check; Type: TABLE; Schema: payments; Owner: -
--

CREATE UNLOGGED TABLE payments.entries_to_check (
    entry_id uuid NOT NULL,
    org_id uuid NOT NULL,
    posted_before boolean DEFAULT false NOT NULL
);

--
-- Name: entry_seals; Type: TABLE; Schema: payments; Owner: -
--

CREATE TABLE payments.entry_seals (
    entry_id uuid NOT NULL,
    org_id uuid NOT NULL,
    checkpoint_seq bigint NOT NULL,
    platform_seq bigint NOT NULL,
    header_hash bytea NOT NULL,
    line_ids bigint[] NOT NULL,
    line_hashes bytea[] NOT NULL,
    hash bytea NOT NULL,
    CONSTRAINT entry_seals_lines CHECK ((cardinality(line_ids) = cardinality(line_hashes)))
);

--
-- Name: escrow_transitions; Type: TABLE; Schema: payments; Owner: -
--

CREATE TABLE payments.escrow_transitions (
    id bigint NOT NULL,
    escrow_id uuid NOT NULL,
    org_id uuid NOT NULL,
    from_state text NOT NULL,
    to_state text NOT NULL,
    event text NOT NULL,
    cause text,
    entry_id uuid,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);

--
-- Name: escrow_transitions_id_seq; Type: SEQUENCE; Schema: payments; Owner: -
--

ALTER TABLE payments.escrow_transitions ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME payments.escrow_transitions_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

--
-- Name: escrows; Type: TABLE; Schema: payments; Owner: -
--

CREATE TABLE payments.escrows (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    org_id uuid NOT NULL,
    event_id text NOT NULL,
    currency text NOT NULL,
    state payments.escrow_state DEFAULT 'collecting'::text NOT NULL,
    event_ends_at timestamp with time zone NOT NULL,
    ended_at timestamp with time zone,
    hold_until timestamp with time zone,
    open_disputes payments.escrow_count DEFAULT 0 NOT NULL,
    captured payments.escrow_sum DEFAULT 0 NOT NULL,
    refunded payments.escrow_sum DEFAULT 0 NOT NULL,
    charged_back payments.escrow_sum DEFAULT 0 NOT NULL,
    held bigint DEFAULT 0 NOT NULL,
    released payments.escrow_sum DEFAULT 0 NOT NULL,
    version integer DEFAULT 0 NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL
);

--
-- Name: fx_rates_id_seq; Type: SEQUENCE; Schema: payments; Owner: -
--

ALTER TABLE payments.fx_rates ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME payments.fx_rates_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

--
-- Name: hold_expiries; Type: TABLE; Schema: payments; Owner: -
--

CREATE TABLE payments.hold_expiries (
    hold_id uuid NOT NULL,
    org_id uuid NOT NULL,
    expires_at timestamp with time zone NOT NULL
);

--
-- Name: idempotency_keys; Type: TABLE; Schema: payments; Owner: -
--

CREATE TABLE payments.idempotency_keys (
    org_id uuid NOT NULL,
    key text NOT NULL,
    operation text NOT NULL,
    request_hash text NOT NULL,
    status text NOT NULL,
    result jsonb NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);

--
-- Name: lines_id_seq; Type: SEQUENCE; Schema: payments; Owner: -
--

ALTER TABLE payments.lines ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME payments.lines_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

--
-- Name: organizations; Type: TABLE; Schema: payments; Owner: -
--

CREATE TABLE payments.organizations (
    id uuid NOT NULL,
    name text NOT NULL,
    is_platform boolean DEFAULT false NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT organizations_name_check CHECK ((name <> ''::text))
);

--
-- Name: organizer_policies; Type: TABLE; Schema: payments; Owner: -
--

CREATE TABLE payments.organizer_policies (
    org_id uuid NOT NULL,
    platform_fee_bps integer DEFAULT 500 NOT NULL,
    platform_fee_fixed bigint DEFAULT 0 NOT NULL,
    bears_stripe_fees boolean DEFAULT false NOT NULL,
    refund_platform_fee boolean DEFAULT true NOT NULL,
    hold_period interval DEFAULT '3 days'::interval NOT NULL,
    connected_account text,
    payout_email text,
    CONSTRAINT organizer_policies_hold_period_check CHECK ((hold_period >= '00:00:00'::interval)),
    CONSTRAINT organizer_policies_platform_fee_bps_check CHECK (((platform_fee_bps >= 0) AND (platform_fee_bps <= 10000))),
    CONSTRAINT organizer_policies_platform_fee_fixed_check CHECK ((platform_fee_fixed >= 0))
);

--
-- Name: organizer_transfers; Type: TABLE; Schema: payments; Owner: -
--

CREATE TABLE payments.organizer_transfers (
    id text NOT NULL,
    org_id uuid NOT NULL,
    escrow_id uuid,
    currency text NOT NULL,
    amount bigint NOT NULL,
    reversed bigint DEFAULT 0 NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    settlement_id uuid,
    CONSTRAINT organizer_transfers_amount_check CHECK ((amount > 0)),
    CONSTRAINT organizer_transfers_reversal_within_amount CHECK ((reversed <= amount)),
    CONSTRAINT organizer_transfers_reversed_check CHECK ((reversed >= 0))
);

--
-- Name: platform_payouts; Type: TABLE; Schema: payments; Owner: -
--

CREATE TABLE payments.platform_payouts (
    id text NOT NULL,
    currency text NOT NULL,
    amount bigint NOT NULL,
    paid boolean DEFAULT false NOT NULL,
    failed boolean DEFAULT false NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT platform_payouts_amount_check CHECK ((amount > 0))
);

--
-- Name: settlement_entries; Type: TABLE; Schema: payments; Owner: -
--

CREATE TABLE payments.settlement_entries (
    settlement_id uuid NOT NULL,
    account_id uuid NOT NULL,
    entry_id uuid NOT NULL,
    org_id uuid NOT NULL
);

--
-- Name: settlements; Type: TABLE; Schema: payments; Owner: -
--

CREATE TABLE payments.settlements (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    org_id uuid NOT NULL,
    account_id uuid NOT NULL,
    currency text NOT NULL,
    debits numeric(20,0) NOT NULL,
    credits numeric(20,0) NOT NULL,
    amount numeric(21,0) NOT NULL,
    entry_count integer NOT NULL,
    up_to timestamp with time zone NOT NULL,
    description text DEFAULT ''::text NOT NULL,
    metadata jsonb DEFAULT '{}'::jsonb NOT NULL,
    idempotency_key text NOT NULL,
    created_at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    CONSTRAINT settlements_credits_check CHECK ((credits >= (0)::numeric)),
    CONSTRAINT settlements_debits_check CHECK ((debits >= (0)::numeric)),
    CONSTRAINT settlements_entry_count_check CHECK ((entry_count > 0)),
    CONSTRAINT settlements_idempotency_key_check CHECK ((idempotency_key <> ''::text)),
    CONSTRAINT settlements_up_to_recorded CHECK ((up_to <= created_at))
);

--
-- Name: tenancy_secret; Type: TABLE; Schema: payments; Owner: -
--

CREATE TABLE payments.tenancy_secret (
    singleton boolean DEFAULT true NOT NULL,
    inner_pad bytea NOT NULL,
    outer_pad bytea NOT NULL,
    CONSTRAINT tenancy_secret_inner_pad_check CHECK ((length(inner_pad) = 64)),
    CONSTRAINT tenancy_secret_outer_pad_check CHECK ((length(outer_pad) = 64)),
    CONSTRAINT tenancy_secret_singleton_check CHECK (singleton)
);

--
-- Name: transfer_requests; Type: TABLE; Schema: payments; Owner: -
--

CREATE TABLE payments.transfer_requests (
    id uuid NOT NULL,
    org_id uuid NOT NULL,
    escrow_id uuid NOT NULL,
    key text NOT NULL,
    kind text NOT NULL,
    entry_id uuid NOT NULL,
    currency text NOT NULL,
    amount bigint NOT NULL,
    source_transaction text,
    transfer_id text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    linked_at timestamp with time zone,
    CONSTRAINT transfer_requests_amount_check CHECK ((amount > 0)),
    CONSTRAINT transfer_requests_kind_check CHECK ((kind = ANY (ARRAY['release'::text, 'capture'::text, 'refund_failed'::text]))),
    CONSTRAINT transfer_requests_linked CHECK (((transfer_id IS NULL) = (linked_at IS NULL)))
);

--
-- Name: transfer_reversal_requests; Type: TABLE; Schema: payments; Owner: -
--

CREATE TABLE payments.transfer_reversal_requests (
    id text NOT NULL,
    org_id uuid NOT NULL,
    transfer_id text NOT NULL,
    currency text NOT NULL,
    amount bigint NOT NULL,
    reversal_id text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    booked_at timestamp with time zone,
    sent_at timestamp with time zone,
    canceled_at timestamp with time zone,
    CONSTRAINT transfer_reversal_requests_amount_check CHECK ((amount > 0)),
    CONSTRAINT transfer_reversal_requests_booked CHECK (((reversal_id IS NULL) = (booked_at IS NULL))),
    CONSTRAINT transfer_reversal_requests_canceled CHECK (((canceled_at IS NULL) OR ((reversal_id IS NULL) AND (sent_at IS NULL))))
);

--
-- Name: alembic_version; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.alembic_version (
    version_num character varying(32) NOT NULL
);

--
-- Name: events; Type: TABLE; Schema: ticketing; Owner: -
--

CREATE TABLE ticketing.events (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    org_id uuid NOT NULL,
    name ticketing.name NOT NULL,
    currency text NOT NULL,
    starts_at timestamp with time zone NOT NULL,
    ends_at timestamp with time zone NOT NULL,
    cancelled_at timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT events_end_after_start CHECK ((ends_at >= starts_at))
);

--
-- Name: orders; Type: TABLE; Schema: ticketing; Owner: -
--

CREATE TABLE ticketing.orders (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    org_id uuid NOT NULL,
    event_id uuid NOT NULL,
    buyer_email text NOT NULL,
    status ticketing.order_status DEFAULT 'awaiting_payment'::text NOT NULL,
    currency text NOT NULL,
    amount ticketing.amount NOT NULL,
    payment_intent_id text,
    client_secret text,
    hold_expires_at timestamp with time zone NOT NULL,
    cancel_reason text,
    cancel_requested_at timestamp with time zone,
    cancel_refused text,
    cancel_refused_at timestamp with time zone,
    idempotency_key text NOT NULL,
    request_hash text NOT NULL,
    version integer DEFAULT 0 NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL
);

--
-- Name: refunds; Type: TABLE; Schema: ticketing; Owner: -
--

CREATE TABLE ticketing.refunds (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    org_id uuid NOT NULL,
    order_id uuid NOT NULL,
    amount ticketing.amount NOT NULL,
    reason text NOT NULL,
    idempotency_key text NOT NULL,
    request_hash text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);

--
-- Name: ticket_types; Type: TABLE; Schema: ticketing; Owner: -
--

CREATE TABLE ticketing.ticket_types (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    event_id uuid NOT NULL,
    org_id uuid NOT NULL,
    name ticketing.name NOT NULL,
    price ticketing.amount NOT NULL,
    currency text NOT NULL,
    capacity ticketing.capacity NOT NULL,
    sales_start timestamp with time zone NOT NULL,
    sales_end timestamp with time zone NOT NULL,
    held ticketing.seats DEFAULT 0 NOT NULL,
    sold ticketing.seats DEFAULT 0 NOT NULL,
    CONSTRAINT ticket_types_within_capacity CHECK ((((held)::integer + (sold)::integer) <= (capacity)::integer))
);

--
-- Name: tickets; Type: TABLE; Schema: ticketing; Owner: -
--

CREATE TABLE ticketing.tickets (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    order_id uuid NOT NULL,
    org_id uuid NOT NULL,
    event_id uuid NOT NULL,
    ticket_type_id uuid NOT NULL,
    status ticketing.ticket_status DEFAULT 'held'::text NOT NULL,
    code text NOT NULL,
    holder_email text NOT NULL,
    price ticketing.amount NOT NULL,
    replaces uuid,
    checked_in_at timestamp with time zone,
    checked_in_by text,
    version integer DEFAULT 0 NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL
);

--
-- Name: transitions; Type: TABLE; Schema: ticketing; Owner: -
--

CREATE TABLE ticketing.transitions (
    id bigint NOT NULL,
    org_id uuid NOT NULL,
    subject ticketing.transition_subject NOT NULL,
    subject_id uuid NOT NULL,
    from_state text NOT NULL,
    to_state text NOT NULL,
    event text NOT NULL,
    cause text,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);

--
-- Name: transitions_id_seq; Type: SEQUENCE; Schema: ticketing; Owner: -
--

ALTER TABLE ticketing.transitions ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME ticketing.transitions_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

--
-- Name: attempts attempts_pkey; Type: CONSTRAINT; Schema: messaging; Owner: -
--

ALTER TABLE ONLY messaging.attempts
    ADD CONSTRAINT attempts_pkey PRIMARY KEY (id, org_id);

--
-- Name: deliveries deliveries_pkey; Type: CONSTRAINT; Schema: messaging; Owner: -
--

ALTER TABLE ONLY messaging.deliveries
    ADD CONSTRAINT deliveries_pkey PRIMARY KEY (id, org_id);

--
-- Name: endpoint_secrets endpoint_secrets_pkey; Type: CONSTRAINT; Schema: messaging; Owner: -
--

ALTER TABLE ONLY messaging.endpoint_secrets
    ADD CONSTRAINT endpoint_secrets_pkey PRIMARY KEY (id, org_id);

--
-- Name: endpoints endpoints_pkey; Type: CONSTRAINT; Schema: messaging; Owner: -
--

ALTER TABLE ONLY messaging.endpoints
    ADD CONSTRAINT endpoints_pkey PRIMARY KEY (id, org_id);

--
-- Name: inbox_cursors inbox_cursors_pkey; Type: CONSTRAINT; Schema: messaging; Owner: -
--

ALTER TABLE ONLY messaging.inbox_cursors
    ADD CONSTRAINT inbox_cursors_pkey PRIMARY KEY (source);

--
-- Name: inbox inbox_pkey; Type: CONSTRAINT; Schema: messaging; Owner: -
--

ALTER TABLE ONLY messaging.inbox
    ADD CONSTRAINT inbox_pkey PRIMARY KEY (source, event_id, org_id);

--
-- Name: inbox_secrets inbox_secrets_pkey; Type: CONSTRAINT; Schema: messaging; Owner: -
--

ALTER TABLE ONLY messaging.inbox_secrets
    ADD CONSTRAINT inbox_secrets_pkey PRIMARY KEY (source);

--
-- Name: messages messages_pkey; Type: CONSTRAINT; Schema: messaging; Owner: -
--

ALTER TABLE ONLY messaging.messages
    ADD CONSTRAINT messages_pkey PRIMARY KEY (id, org_id);

--
-- Name: account_categories account_categories_id_org_currency_key; Type: CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.account_categories
    ADD CONSTRAINT account_categories_id_org_currency_key UNIQUE (id, org_id, currency);

--
-- Name: account_categories account_categories_org_code_key; Type: CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.account_categories
    ADD CONSTRAINT account_categories_org_code_key UNIQUE (org_id, code);

--
-- Name: account_categories account_categories_pkey; Type: CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.account_categories
    ADD CONSTRAINT account_categories_pkey PRIMARY KEY (id, org_id);

--
-- Name: accounts accounts_id_org_currency_key; Type: CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.accounts
    ADD CONSTRAINT accounts_id_org_currency_key UNIQUE (id, org_id, currency);

--
-- Name: accounts accounts_org_code_key; Type: CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.accounts
    ADD CONSTRAINT accounts_org_code_key UNIQUE (org_id, code);

--
-- Name: accounts accounts_pkey; Type: CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.accounts
    ADD CONSTRAINT accounts_pkey PRIMARY KEY (id, org_id);

--
-- Name: api_idempotency api_idempotency_pkey; Type: CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.api_idempotency
    ADD CONSTRAINT api_idempotency_pkey PRIMARY KEY (scope, key);

--
-- Name: api_keys api_keys_pkey; Type: CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.api_keys
    ADD CONSTRAINT api_keys_pkey PRIMARY KEY (id);

--
-- Name: api_keys api_keys_prefix_key; Type: CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.api_keys
    ADD CONSTRAINT api_keys_prefix_key UNIQUE (prefix);

--
-- Name: balance_monitors balance_monitors_key; Type: CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.balance_monitors
    ADD CONSTRAINT balance_monitors_key UNIQUE (org_id, idempotency_key);

--
-- Name: balance_monitors balance_monitors_pkey; Type: CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.balance_monitors
    ADD CONSTRAINT balance_monitors_pkey PRIMARY KEY (id, org_id);

--
-- Name: card_disputes card_disputes_pkey; Type: CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.card_disputes
    ADD CONSTRAINT card_disputes_pkey PRIMARY KEY (id, org_id);

--
-- Name: card_payments card_payments_pkey; Type: CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.card_payments
    ADD CONSTRAINT card_payments_pkey PRIMARY KEY (id, org_id);

--
-- Name: card_refunds card_refunds_pkey; Type: CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.card_refunds
    ADD CONSTRAINT card_refunds_pkey PRIMARY KEY (id, org_id);

--
-- Name: category_members category_members_account_once; Type: CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.category_members
    ADD CONSTRAINT category_members_account_once UNIQUE (category_id, account_id, org_id);

--
-- Name: category_members category_members_category_once; Type: CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.category_members
    ADD CONSTRAINT category_members_category_once UNIQUE (category_id, member_category_id, org_id);

--
-- Name: category_members category_members_pkey; Type: CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.category_members
    ADD CONSTRAINT category_members_pkey PRIMARY KEY (id, org_id);

--
-- Name: checkpoints checkpoints_chain_seq; Type: CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.checkpoints
    ADD CONSTRAINT checkpoints_chain_seq UNIQUE NULLS NOT DISTINCT (org_id, seq);

--
-- Name: checkpoints checkpoints_pkey; Type: CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.checkpoints
    ADD CONSTRAINT checkpoints_pkey PRIMARY KEY (id);

--
-- Name: conversions conversions_org_key; Type: CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.conversions
    ADD CONSTRAINT conversions_org_key UNIQUE (org_id, idempotency_key);

--
-- Name: conversions conversions_pkey; Type: CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.conversions
    ADD CONSTRAINT conversions_pkey PRIMARY KEY (id, org_id);

--
-- Name: currencies currencies_pkey; Type: CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.currencies
    ADD CONSTRAINT currencies_pkey PRIMARY KEY (code);

--
-- Name: entries entries_pkey; Type: CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.entries
    ADD CONSTRAINT entries_pkey PRIMARY KEY (id, org_id);

--
-- Name: entry_seals entry_seals_pkey; Type: CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.entry_seals
    ADD CONSTRAINT entry_seals_pkey PRIMARY KEY (entry_id, org_id);

--
-- Name: escrow_transitions escrow_transitions_pkey; Type: CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.escrow_transitions
    ADD CONSTRAINT escrow_transitions_pkey PRIMARY KEY (id, org_id);

--
-- Name: escrows escrows_one_per_event; Type: CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.escrows
    ADD CONSTRAINT escrows_one_per_event UNIQUE (org_id, event_id, currency);

--
-- Name: escrows escrows_pkey; Type: CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.escrows
    ADD CONSTRAINT escrows_pkey PRIMARY KEY (id, org_id);

--
-- Name: fx_rates fx_rates_pkey; Type: CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.fx_rates
    ADD CONSTRAINT fx_rates_pkey PRIMARY KEY (id);

--
-- Name: hold_expiries hold_expiries_pkey; Type: CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.hold_expiries
    ADD CONSTRAINT hold_expiries_pkey PRIMARY KEY (hold_id, org_id);

--
-- Name: hold_resolutions hold_resolutions_pkey; Type: CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.hold_resolutions
    ADD CONSTRAINT hold_resolutions_pkey PRIMARY KEY (hold_id, org_id);

--
-- Name: holds holds_pkey; Type: CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.holds
    ADD CONSTRAINT holds_pkey PRIMARY KEY (id, org_id);

--
-- Name: idempotency_keys idempotency_keys_pkey; Type: CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.idempotency_keys
    ADD CONSTRAINT idempotency_keys_pkey PRIMARY KEY (org_id, key);

--
-- Name: lines lines_pkey; Type: CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.lines
    ADD CONSTRAINT lines_pkey PRIMARY KEY (entry_org_id, id);

--
-- Name: organizations organizations_pkey; Type: CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.organizations
    ADD CONSTRAINT organizations_pkey PRIMARY KEY (id);

--
-- Name: organizer_policies organizer_policies_pkey; Type: CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.organizer_policies
    ADD CONSTRAINT organizer_policies_pkey PRIMARY KEY (org_id);

--
-- Name: organizer_transfers organizer_transfers_pkey; Type: CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.organizer_transfers
    ADD CONSTRAINT organizer_transfers_pkey PRIMARY KEY (id, org_id);

--
-- Name: platform_payouts platform_payouts_pkey; Type: CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.platform_payouts
    ADD CONSTRAINT platform_payouts_pkey PRIMARY KEY (id);

--
-- Name: settlement_entries settlement_entries_once; Type: CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.settlement_entries
    ADD CONSTRAINT settlement_entries_once UNIQUE (account_id, entry_id, org_id);

--
-- Name: settlement_entries settlement_entries_pkey; Type: CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.settlement_entries
    ADD CONSTRAINT settlement_entries_pkey PRIMARY KEY (settlement_id, entry_id, org_id);

--
-- Name: settlements settlements_id_account_key; Type: CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.settlements
    ADD CONSTRAINT settlements_id_account_key UNIQUE (id, account_id, org_id);

--
-- Name: settlements settlements_org_key_key; Type: CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.settlements
    ADD CONSTRAINT settlements_org_key_key UNIQUE (org_id, idempotency_key);

--
-- Name: settlements settlements_pkey; Type: CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.settlements
    ADD CONSTRAINT settlements_pkey PRIMARY KEY (id, org_id);

--
-- Name: tenancy_secret tenancy_secret_pkey; Type: CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.tenancy_secret
    ADD CONSTRAINT tenancy_secret_pkey PRIMARY KEY (singleton);

--
-- Name: transfer_requests transfer_requests_escrow_key; Type: CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.transfer_requests
    ADD CONSTRAINT transfer_requests_escrow_key UNIQUE (escrow_id, key, org_id);

--
-- Name: transfer_requests transfer_requests_pkey; Type: CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.transfer_requests
    ADD CONSTRAINT transfer_requests_pkey PRIMARY KEY (id, org_id);

--
-- Name: transfer_requests transfer_requests_transfer_id_key; Type: CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.transfer_requests
    ADD CONSTRAINT transfer_requests_transfer_id_key UNIQUE (transfer_id, org_id);

--
-- Name: transfer_reversal_requests transfer_reversal_requests_pkey; Type: CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.transfer_reversal_requests
    ADD CONSTRAINT transfer_reversal_requests_pkey PRIMARY KEY (id, org_id);

--
-- Name: transfer_reversal_requests transfer_reversal_requests_reversal_id_key; Type: CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.transfer_reversal_requests
    ADD CONSTRAINT transfer_reversal_requests_reversal_id_key UNIQUE (reversal_id, org_id);

--
-- Name: alembic_version alembic_version_pkc; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.alembic_version
    ADD CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num);

--
-- Name: events events_pkey; Type: CONSTRAINT; Schema: ticketing; Owner: -
--

ALTER TABLE ONLY ticketing.events
    ADD CONSTRAINT events_pkey PRIMARY KEY (id, org_id);

--
-- Name: orders orders_key; Type: CONSTRAINT; Schema: ticketing; Owner: -
--

ALTER TABLE ONLY ticketing.orders
    ADD CONSTRAINT orders_key UNIQUE (org_id, idempotency_key);

--
-- Name: orders orders_payment_intent_id_key; Type: CONSTRAINT; Schema: ticketing; Owner: -
--

ALTER TABLE ONLY ticketing.orders
    ADD CONSTRAINT orders_payment_intent_id_key UNIQUE (payment_intent_id, org_id);

--
-- Name: orders orders_pkey; Type: CONSTRAINT; Schema: ticketing; Owner: -
--

ALTER TABLE ONLY ticketing.orders
    ADD CONSTRAINT orders_pkey PRIMARY KEY (id, org_id);

--
-- Name: refunds refunds_key; Type: CONSTRAINT; Schema: ticketing; Owner: -
--

ALTER TABLE ONLY ticketing.refunds
    ADD CONSTRAINT refunds_key UNIQUE (org_id, idempotency_key);

--
-- Name: refunds refunds_pkey; Type: CONSTRAINT; Schema: ticketing; Owner: -
--

ALTER TABLE ONLY ticketing.refunds
    ADD CONSTRAINT refunds_pkey PRIMARY KEY (id, org_id);

--
-- Name: ticket_types ticket_types_event_key; Type: CONSTRAINT; Schema: ticketing; Owner: -
--

ALTER TABLE ONLY ticketing.ticket_types
    ADD CONSTRAINT ticket_types_event_key UNIQUE (id, event_id, org_id);

--
-- Name: ticket_types ticket_types_pkey; Type: CONSTRAINT; Schema: ticketing; Owner: -
--

ALTER TABLE ONLY ticketing.ticket_types
    ADD CONSTRAINT ticket_types_pkey PRIMARY KEY (id, org_id);

--
-- Name: tickets tickets_code_key; Type: CONSTRAINT; Schema: ticketing; Owner: -
--

ALTER TABLE ONLY ticketing.tickets
    ADD CONSTRAINT tickets_code_key UNIQUE (code, org_id);

--
-- Name: tickets tickets_pkey; Type: CONSTRAINT; Schema: ticketing; Owner: -
--

ALTER TABLE ONLY ticketing.tickets
    ADD CONSTRAINT tickets_pkey PRIMARY KEY (id, org_id);

--
-- Name: transitions transitions_pkey; Type: CONSTRAINT; Schema: ticketing; Owner: -
--

ALTER TABLE ONLY ticketing.transitions
    ADD CONSTRAINT transitions_pkey PRIMARY KEY (id, org_id);

--
-- Name: attempts_delivery; Type: INDEX; Schema: messaging; Owner: -
--

CREATE INDEX attempts_delivery ON messaging.attempts USING btree (delivery_id, attempt);

--
-- Name: deliveries_due; Type: INDEX; Schema: messaging; Owner: -
--

CREATE INDEX deliveries_due ON messaging.deliveries USING btree (next_attempt_at, id) WHERE ((status)::text = ANY (ARRAY['pending'::text, 'delivering'::text]));

--
-- Name: deliveries_endpoint; Type: INDEX; Schema: messaging; Owner: -
--

CREATE INDEX deliveries_endpoint ON messaging.deliveries USING btree (endpoint_id, id) WHERE (endpoint_id IS NOT NULL);

--
-- Name: deliveries_message; Type: INDEX; Schema: messaging; Owner: -
--

CREATE INDEX deliveries_message ON messaging.deliveries USING btree (message_id);

--
-- Name: deliveries_queue; Type: INDEX; Schema: messaging; Owner: -
--

CREATE INDEX deliveries_queue ON messaging.deliveries USING btree (target, aggregate_key, id) WHERE ((status)::text = ANY (ARRAY['pending'::text, 'delivering'::text]));

--
-- Name: endpoint_secrets_endpoint; Type: INDEX; Schema: messaging; Owner: -
--

CREATE INDEX endpoint_secrets_endpoint ON messaging.endpoint_secrets USING btree (endpoint_id);

--
-- Name: endpoints_org; Type: INDEX; Schema: messaging; Owner: -
--

CREATE INDEX endpoints_org ON messaging.endpoints USING btree (org_id) WHERE enabled;

--
-- Name: inbox_due; Type: INDEX; Schema: messaging; Owner: -
--

CREATE INDEX inbox_due ON messaging.inbox USING btree (next_attempt_at) WHERE ((status)::text = 'pending'::text);

--
-- Name: messages_created; Type: INDEX; Schema: messaging; Owner: -
--

CREATE INDEX messages_created ON messaging.messages USING btree (created_at);

--
-- Name: messages_dedup_key; Type: INDEX; Schema: messaging; Owner: -
--

CREATE UNIQUE INDEX messages_dedup_key ON messaging.messages USING btree (dedup_key, org_id) WHERE (dedup_key IS NOT NULL);

--
-- Name: account_categories_org_created; Type: INDEX; Schema: payments; Owner: -
--

CREATE INDEX account_categories_org_created ON payments.account_categories USING btree (org_id, created_at, id);

--
-- Name: api_idempotency_created; Type: INDEX; Schema: payments; Owner: -
--

CREATE INDEX api_idempotency_created ON payments.api_idempotency USING btree (created_at);

--
-- Name: api_keys_org; Type: INDEX; Schema: payments; Owner: -
--

CREATE INDEX api_keys_org ON payments.api_keys USING btree (org_id);

--
-- Name: balance_monitors_account; Type: INDEX; Schema: payments; Owner: -
--

CREATE INDEX balance_monitors_account ON payments.balance_monitors USING btree (account_id) WHERE (deleted_at IS NULL);

--
-- Name: balance_monitors_org; Type: INDEX; Schema: payments; Owner: -
--

CREATE INDEX balance_monitors_org ON payments.balance_monitors USING btree (org_id, created_at, id);

--
-- Name: card_payments_charge; Type: INDEX; Schema: payments; Owner: -
--

CREATE INDEX card_payments_charge ON payments.card_payments USING btree (charge_id);

--
-- Name: category_members_account; Type: INDEX; Schema: payments; Owner: -
--

CREATE INDEX category_members_account ON payments.category_members USING btree (account_id) WHERE (account_id IS NOT NULL);

--
-- Name: conversions_org_created; Type: INDEX; Schema: payments; Owner: -
--

CREATE INDEX conversions_org_created ON payments.conversions USING btree (org_id, created_at, id);

--
-- Name: entries_hold_posted_once; Type: INDEX; Schema: payments; Owner: -
--

CREATE UNIQUE INDEX entries_hold_posted_once ON payments.entries USING btree (hold_id, org_id) WHERE (hold_id IS NOT NULL);

--
-- Name: entries_org_created; Type: INDEX; Schema: payments; Owner: -
--

CREATE INDEX entries_org_created ON payments.entries USING btree (org_id, created_at);

--
-- Name: entries_org_external_ref_key; Type: INDEX; Schema: payments; Owner: -
--

CREATE UNIQUE INDEX entries_org_external_ref_key ON payments.entries USING btree (org_id, external_ref) WHERE (external_ref IS NOT NULL);

--
-- Name: entries_reversed_once; Type: INDEX; Schema: payments; Owner: -
--

CREATE UNIQUE INDEX entries_reversed_once ON payments.entries USING btree (reverses_entry_id, org_id) WHERE (reverses_entry_id IS NOT NULL);

--
-- Name: entry_seals_checkpoint; Type: INDEX; Schema: payments; Owner: -
--

CREATE INDEX entry_seals_checkpoint ON payments.entry_seals USING btree (org_id, checkpoint_seq, entry_id);

--
-- Name: escrow_transitions_escrow; Type: INDEX; Schema: payments; Owner: -
--

CREATE INDEX escrow_transitions_escrow ON payments.escrow_transitions USING btree (escrow_id, id);

--
-- Name: escrows_due; Type: INDEX; Schema: payments; Owner: -
--

CREATE INDEX escrows_due ON payments.escrows USING btree (state, event_ends_at, hold_until);

--
-- Name: fx_rates_pair; Type: INDEX; Schema: payments; Owner: -
--

CREATE INDEX fx_rates_pair ON payments.fx_rates USING btree (source_currency, target_currency, valid_from, id);

--
-- Name: hold_expiries_due; Type: INDEX; Schema: payments; Owner: -
--

CREATE INDEX hold_expiries_due ON payments.hold_expiries USING btree (expires_at, hold_id);

--
-- Name: holds_credit_account; Type: INDEX; Schema: payments; Owner: -
--

CREATE INDEX holds_credit_account ON payments.holds USING btree (credit_account_id, created_at);

--
-- Name: holds_debit_account; Type: INDEX; Schema: payments; Owner: -
--

CREATE INDEX holds_debit_account ON payments.holds USING btree (debit_account_id, created_at);

--
-- Name: lines_account; Type: INDEX; Schema: payments; Owner: -
--

CREATE INDEX lines_account ON payments.lines USING btree (account_id, id) INCLUDE (side, amount);

--
-- Name: lines_account_dated; Type: INDEX; Schema: payments; Owner: -
--

CREATE INDEX lines_account_dated ON payments.lines USING btree (account_id, effective_at) INCLUDE (created_at, side, amount) WHERE ((effective_at <> created_at) IS TRUE);

--
-- Name: lines_account_recorded; Type: INDEX; Schema: payments; Owner: -
--

CREATE INDEX lines_account_recorded ON payments.lines USING btree (account_id, created_at, account_version) INCLUDE (account_posted_debits, account_posted_credits);

--
-- Name: lines_entry; Type: INDEX; Schema: payments; Owner: -
--

CREATE INDEX lines_entry ON payments.lines USING btree (entry_id);

--
-- Name: lines_unrolled; Type: INDEX; Schema: payments; Owner: -
--

CREATE INDEX lines_unrolled ON payments.lines USING btree (account_id, id) WHERE (account_version IS NULL);

--
-- Name: lines_unrolled_large; Type: INDEX; Schema: payments; Owner: -
--

CREATE INDEX lines_unrolled_large ON payments.lines USING btree (account_id) WHERE ((account_version IS NULL) AND (amount >= '1099511627776'::bigint));

--
-- Name: organizations_one_platform; Type: INDEX; Schema: payments; Owner: -
--

CREATE UNIQUE INDEX organizations_one_platform ON payments.organizations USING btree (is_platform) WHERE is_platform;

--
-- Name: settlement_entries_entry; Type: INDEX; Schema: payments; Owner: -
--

CREATE INDEX settlement_entries_entry ON payments.settlement_entries USING btree (entry_id);

--
-- Name: settlements_account; Type: INDEX; Schema: payments; Owner: -
--

CREATE INDEX settlements_account ON payments.settlements USING btree (account_id, created_at);

--
-- Name: settlements_org_created; Type: INDEX; Schema: payments; Owner: -
--

CREATE INDEX settlements_org_created ON payments.settlements USING btree (org_id, created_at, id);

--
-- Name: transfer_requests_charge; Type: INDEX; Schema: payments; Owner: -
--

CREATE UNIQUE INDEX transfer_requests_charge ON payments.transfer_requests USING btree (source_transaction, org_id) WHERE (source_transaction IS NOT NULL);

--
-- Name: transfer_requests_open; Type: INDEX; Schema: payments; Owner: -
--

CREATE INDEX transfer_requests_open ON payments.transfer_requests USING btree (escrow_id) WHERE (transfer_id IS NULL);

--
-- Name: transfer_reversal_requests_open; Type: INDEX; Schema: payments; Owner: -
--

CREATE INDEX transfer_reversal_requests_open ON payments.transfer_reversal_requests USING btree (org_id, currency) WHERE ((reversal_id IS NULL) AND (canceled_at IS NULL));

--
-- Name: orders_event; Type: INDEX; Schema: ticketing; Owner: -
--

CREATE INDEX orders_event ON ticketing.orders USING btree (event_id);

--
-- Name: orders_expiry; Type: INDEX; Schema: ticketing; Owner: -
--

CREATE INDEX orders_expiry ON ticketing.orders USING btree (hold_expires_at) WHERE ((status)::text = 'awaiting_payment'::text);

--
-- Name: ticket_types_event; Type: INDEX; Schema: ticketing; Owner: -
--

CREATE INDEX ticket_types_event ON ticketing.ticket_types USING btree (event_id);

--
-- Name: tickets_order; Type: INDEX; Schema: ticketing; Owner: -
--

CREATE INDEX tickets_order ON ticketing.tickets USING btree (order_id);

--
-- Name: tickets_type; Type: INDEX; Schema: ticketing; Owner: -
--

CREATE INDEX tickets_type ON ticketing.tickets USING btree (ticket_type_id);

--
-- Name: transitions_subject; Type: INDEX; Schema: ticketing; Owner: -
--

CREATE INDEX transitions_subject ON ticketing.transitions USING btree (subject_id, id);

--
-- Name: lines_dated; Type: STATISTICS; Schema: payments; Owner: -
--

CREATE STATISTICS payments.lines_dated ON (effective_at <> created_at) FROM payments.lines;

--
-- Name: deliveries deliveries_guard; Type: TRIGGER; Schema: messaging; Owner: -
--

CREATE TRIGGER deliveries_guard BEFORE INSERT ON messaging.deliveries FOR EACH ROW WHEN (((new.channel)::text = 'task'::text)) EXECUTE FUNCTION messaging.deliveries_guard();

--
-- Name: deliveries deliveries_references; Type: TRIGGER; Schema: messaging; Owner: -
--

CREATE TRIGGER deliveries_references AFTER INSERT ON messaging.deliveries REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION messaging.deliveries_references();

--
-- Name: deliveries deliveries_references_fixed; Type: TRIGGER; Schema: messaging; Owner: -
--

CREATE TRIGGER deliveries_references_fixed BEFORE UPDATE OF message_id, endpoint_id, org_id ON messaging.deliveries FOR EACH ROW WHEN (((new.message_id IS DISTINCT FROM old.message_id) OR (new.endpoint_id IS DISTINCT FROM old.endpoint_id) OR (new.org_id IS DISTINCT FROM old.org_id))) EXECUTE FUNCTION messaging.refuse_change();

--
-- Name: deliveries deliveries_shape; Type: TRIGGER; Schema: messaging; Owner: -
--

CREATE TRIGGER deliveries_shape BEFORE UPDATE OF channel, endpoint_id, recipient ON messaging.deliveries FOR EACH ROW WHEN (((((new.channel)::text = 'webhook'::text) <> (new.endpoint_id IS NOT NULL)) OR (((new.channel)::text = 'email'::text) <> (new.recipient IS NOT NULL)))) EXECUTE FUNCTION messaging.deliveries_shape();

--
-- Name: endpoints endpoints_no_delete; Type: TRIGGER; Schema: messaging; Owner: -
--

CREATE TRIGGER endpoints_no_delete BEFORE DELETE ON messaging.endpoints FOR EACH ROW EXECUTE FUNCTION messaging.refuse_change();

--
-- Name: endpoints endpoints_no_new_key; Type: TRIGGER; Schema: messaging; Owner: -
--

CREATE TRIGGER endpoints_no_new_key BEFORE UPDATE OF id, org_id ON messaging.endpoints FOR EACH ROW WHEN (((new.id IS DISTINCT FROM old.id) OR (new.org_id IS DISTINCT FROM old.org_id))) EXECUTE FUNCTION messaging.refuse_change();

--
-- Name: endpoints endpoints_no_truncate; Type: TRIGGER; Schema: messaging; Owner: -
--

CREATE TRIGGER endpoints_no_truncate BEFORE TRUNCATE ON messaging.endpoints FOR EACH STATEMENT EXECUTE FUNCTION messaging.refuse_change();

--
-- Name: inbox inbox_notify; Type: TRIGGER; Schema: messaging; Owner: -
--

CREATE TRIGGER inbox_notify AFTER INSERT ON messaging.inbox FOR EACH STATEMENT EXECUTE FUNCTION messaging.notify_inbox();

--
-- Name: inbox inbox_place; Type: TRIGGER; Schema: messaging; Owner: -
--

CREATE TRIGGER inbox_place BEFORE INSERT ON messaging.inbox FOR EACH ROW EXECUTE FUNCTION messaging.inbox_place();

--
-- Name: messages messages_cascade; Type: TRIGGER; Schema: messaging; Owner: -
--

CREATE TRIGGER messages_cascade AFTER DELETE ON messaging.messages REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION messaging.messages_cascade();

--
-- Name: messages messages_no_new_key; Type: TRIGGER; Schema: messaging; Owner: -
--

CREATE TRIGGER messages_no_new_key BEFORE UPDATE OF id, org_id ON messaging.messages FOR EACH ROW WHEN (((new.id IS DISTINCT FROM old.id) OR (new.org_id IS DISTINCT FROM old.org_id))) EXECUTE FUNCTION messaging.refuse_change();

--
-- Name: messages messages_no_truncate; Type: TRIGGER; Schema: messaging; Owner: -
--

CREATE TRIGGER messages_no_truncate BEFORE TRUNCATE ON messaging.messages FOR EACH STATEMENT EXECUTE FUNCTION messaging.refuse_change();

--
-- Name: accounts accounts_guard; Type: TRIGGER; Schema: payments; Owner: -
--

CREATE TRIGGER accounts_guard BEFORE UPDATE OF posted_debits, posted_credits, pending_debits, pending_credits, version, closed ON payments.accounts FOR EACH ROW WHEN (payments._writer_off()) EXECUTE FUNCTION payments.guard_account_update();

--
-- Name: accounts accounts_guard_identity; Type: TRIGGER; Schema: payments; Owner: -
--

CREATE TRIGGER accounts_guard_identity BEFORE UPDATE OF id, org_id, code, type, currency, high_volume, created_at, normal_side ON payments.accounts FOR EACH ROW WHEN (((((((((new.id IS DISTINCT FROM old.id) OR (new.org_id IS DISTINCT FROM old.org_id)) OR (new.code IS DISTINCT FROM old.code)) OR (new.type IS DISTINCT FROM old.type)) OR (new.currency IS DISTINCT FROM old.currency)) OR (new.high_volume IS DISTINCT FROM old.high_volume)) OR (new.created_at IS DISTINCT FROM old.created_at)) OR (new.normal_side IS DISTINCT FROM old.normal_side))) EXECUTE FUNCTION payments.guard_account_update();

--
-- Name: accounts accounts_guard_monitored; Type: TRIGGER; Schema: payments; Owner: -
--

CREATE TRIGGER accounts_guard_monitored BEFORE UPDATE OF monitored ON payments.accounts FOR EACH ROW WHEN ((current_setting('payments.monitors'::text, true) IS DISTINCT FROM 'on'::text)) EXECUTE FUNCTION payments.guard_account_update();

--
-- Name: accounts accounts_no_delete; Type: TRIGGER; Schema: payments; Owner: -
--

CREATE TRIGGER accounts_no_delete BEFORE DELETE ON payments.accounts FOR EACH ROW EXECUTE FUNCTION payments.refuse_change();

--
-- Name: accounts accounts_no_truncate; Type: TRIGGER; Schema: payments; Owner: -
--

CREATE TRIGGER accounts_no_truncate BEFORE TRUNCATE ON payments.accounts FOR EACH STATEMENT EXECUTE FUNCTION payments.refuse_change();

--
-- Name: accounts accounts_rules; Type: TRIGGER; Schema: payments; Owner: -
--

CREATE TRIGGER accounts_rules BEFORE INSERT OR UPDATE OF code, type, debits_must_not_exceed_credits, credits_must_not_exceed_debits, high_volume ON payments.accounts FOR EACH ROW EXECUTE FUNCTION payments.check_account_rules();

--
-- Name: accounts accounts_watch_balance; Type: TRIGGER; Schema: payments; Owner: -
--

CREATE TRIGGER accounts_watch_balance AFTER UPDATE OF posted_debits, posted_credits, pending_debits, pending_credits ON payments.accounts FOR EACH ROW WHEN (new.monitored) EXECUTE FUNCTION payments._watch_balance();

--
-- Name: category_members category_members_no_cycle; Type: TRIGGER; Schema: payments; Owner: -
--

CREATE TRIGGER category_members_no_cycle BEFORE INSERT ON payments.category_members FOR EACH ROW WHEN ((new.member_category_id IS NOT NULL)) EXECUTE FUNCTION payments.check_category_cycle();

--
-- Name: checkpoints checkpoints_no_delete; Type: TRIGGER; Schema: payments; Owner: -
--

CREATE TRIGGER checkpoints_no_delete BEFORE DELETE ON payments.checkpoints FOR EACH ROW EXECUTE FUNCTION payments.refuse_change();

--
-- Name: checkpoints checkpoints_no_truncate; Type: TRIGGER; Schema: payments; Owner: -
--

CREATE TRIGGER checkpoints_no_truncate BEFORE TRUNCATE ON payments.checkpoints FOR EACH STATEMENT EXECUTE FUNCTION payments.refuse_change();

--
-- Name: checkpoints checkpoints_no_update; Type: TRIGGER; Schema: payments; Owner: -
--

CREATE TRIGGER checkpoints_no_update BEFORE UPDATE ON payments.checkpoints FOR EACH ROW EXECUTE FUNCTION payments.refuse_change();

--
-- Name: conversions conversions_check; Type: TRIGGER; Schema: payments; Owner: -
--

CREATE TRIGGER conversions_check BEFORE INSERT OR DELETE OR UPDATE ON payments.conversions FOR EACH ROW EXECUTE FUNCTION payments.check_conversion();

--
-- Name: conversions conversions_no_truncate; Type: TRIGGER; Schema: payments; Owner: -
--

CREATE TRIGGER conversions_no_truncate BEFORE TRUNCATE ON payments.conversions FOR EACH STATEMENT EXECUTE FUNCTION payments.check_conversion();

--
-- Name: entries_to_check entries_balanced; Type: TRIGGER; Schema: payments; Owner: -
--

CREATE CONSTRAINT TRIGGER entries_balanced AFTER INSERT ON payments.entries_to_check DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION payments.check_queued_entry();

--
-- Name: entries entries_have_lines; Type: TRIGGER; Schema: payments; Owner: -
--

CREATE TRIGGER entries_have_lines AFTER INSERT ON payments.entries FOR EACH ROW WHEN (payments._engine_unchecked()) EXECUTE FUNCTION payments.check_new_entry();

--
-- Name: entries entries_no_delete; Type: TRIGGER; Schema: payments; Owner: -
--

CREATE TRIGGER entries_no_delete BEFORE DELETE ON payments.entries FOR EACH ROW EXECUTE FUNCTION payments.refuse_change();

--
-- Name: entries entries_no_truncate; Type: TRIGGER; Schema: payments; Owner: -
--

CREATE TRIGGER entries_no_truncate BEFORE TRUNCATE ON payments.entries FOR EACH STATEMENT EXECUTE FUNCTION payments.refuse_change();

--
-- Name: entries entries_no_update; Type: TRIGGER; Schema: payments; Owner: -
--

CREATE TRIGGER entries_no_update BEFORE UPDATE ON payments.entries FOR EACH ROW EXECUTE FUNCTION payments.refuse_change();

--
-- Name: entries entries_references; Type: TRIGGER; Schema: payments; Owner: -
--

CREATE TRIGGER entries_references AFTER INSERT ON payments.entries FOR EACH ROW WHEN (((new.reverses_entry_id IS NOT NULL) OR (new.hold_id IS NOT NULL))) EXECUTE FUNCTION payments.check_entry_references();

--
-- Name: entry_seals entry_seals_no_delete; Type: TRIGGER; Schema: payments; Owner: -
--

CREATE TRIGGER entry_seals_no_delete BEFORE DELETE ON payments.entry_seals FOR EACH ROW EXECUTE FUNCTION payments.refuse_change();

--
-- Name: entry_seals entry_seals_no_truncate; Type: TRIGGER; Schema: payments; Owner: -
--

CREATE TRIGGER entry_seals_no_truncate BEFORE TRUNCATE ON payments.entry_seals FOR EACH STATEMENT EXECUTE FUNCTION payments.refuse_change();

--
-- Name: entry_seals entry_seals_no_update; Type: TRIGGER; Schema: payments; Owner: -
--

CREATE TRIGGER entry_seals_no_update BEFORE UPDATE ON payments.entry_seals FOR EACH ROW EXECUTE FUNCTION payments.refuse_change();

--
-- Name: escrow_transitions escrow_transitions_no_update; Type: TRIGGER; Schema: payments; Owner: -
--

CREATE TRIGGER escrow_transitions_no_update BEFORE DELETE OR UPDATE ON payments.escrow_transitions FOR EACH ROW EXECUTE FUNCTION payments.refuse_change();

--
-- Name: fx_rates fx_rates_append_only; Type: TRIGGER; Schema: payments; Owner: -
--

CREATE TRIGGER fx_rates_append_only BEFORE DELETE OR UPDATE ON payments.fx_rates FOR EACH ROW EXECUTE FUNCTION payments.fx_rates_append_only();

--
-- Name: fx_rates fx_rates_no_truncate; Type: TRIGGER; Schema: payments; Owner: -
--

CREATE TRIGGER fx_rates_no_truncate BEFORE TRUNCATE ON payments.fx_rates FOR EACH STATEMENT EXECUTE FUNCTION payments.fx_rates_append_only();

--
-- Name: hold_expiries hold_expiries_no_truncate; Type: TRIGGER; Schema: payments; Owner: -
--

CREATE TRIGGER hold_expiries_no_truncate BEFORE TRUNCATE ON payments.hold_expiries FOR EACH STATEMENT EXECUTE FUNCTION payments.refuse_change();

--
-- Name: hold_resolutions hold_resolutions_no_delete; Type: TRIGGER; Schema: payments; Owner: -
--

CREATE TRIGGER hold_resolutions_no_delete BEFORE DELETE ON payments.hold_resolutions FOR EACH ROW EXECUTE FUNCTION payments.refuse_change();

--
-- Name: hold_resolutions hold_resolutions_no_truncate; Type: TRIGGER; Schema: payments; Owner: -
--

CREATE TRIGGER hold_resolutions_no_truncate BEFORE TRUNCATE ON payments.hold_resolutions FOR EACH STATEMENT EXECUTE FUNCTION payments.refuse_change();

--
-- Name: hold_resolutions hold_resolutions_no_update; Type: TRIGGER; Schema: payments; Owner: -
--

CREATE TRIGGER hold_resolutions_no_update BEFORE UPDATE ON payments.hold_resolutions FOR EACH ROW EXECUTE FUNCTION payments.refuse_change();

--
-- Name: hold_resolutions hold_resolutions_publish; Type: TRIGGER; Schema: payments; Owner: -
--

CREATE TRIGGER hold_resolutions_publish AFTER INSERT ON payments.hold_resolutions FOR EACH ROW EXECUTE FUNCTION payments._publish_hold_resolved();

--
-- Name: hold_resolutions hold_resolutions_unlist_expiry; Type: TRIGGER; Schema: payments; Owner: -
--

CREATE TRIGGER hold_resolutions_unlist_expiry AFTER INSERT ON payments.hold_resolutions FOR EACH ROW EXECUTE FUNCTION payments.list_hold_expiry();

--
-- Name: holds holds_list_expiry; Type: TRIGGER; Schema: payments; Owner: -
--

CREATE TRIGGER holds_list_expiry AFTER INSERT ON payments.holds FOR EACH ROW WHEN ((new.expires_at IS NOT NULL)) EXECUTE FUNCTION payments.list_hold_expiry();

--
-- Name: holds holds_no_delete; Type: TRIGGER; Schema: payments; Owner: -
--

CREATE TRIGGER holds_no_delete BEFORE DELETE ON payments.holds FOR EACH ROW EXECUTE FUNCTION payments.refuse_change();

--
-- Name: holds holds_no_truncate; Type: TRIGGER; Schema: payments; Owner: -
--

CREATE TRIGGER holds_no_truncate BEFORE TRUNCATE ON payments.holds FOR EACH STATEMENT EXECUTE FUNCTION payments.refuse_change();

--
-- Name: holds holds_no_update; Type: TRIGGER; Schema: payments; Owner: -
--

CREATE TRIGGER holds_no_update BEFORE UPDATE ON payments.holds FOR EACH ROW EXECUTE FUNCTION payments.refuse_change();

--
-- Name: holds holds_publish_created; Type: TRIGGER; Schema: payments; Owner: -
--

CREATE TRIGGER holds_publish_created AFTER INSERT ON payments.holds FOR EACH ROW EXECUTE FUNCTION payments._publish_hold_created();

--
-- Name: idempotency_keys idempotency_keys_no_delete; Type: TRIGGER; Schema: payments; Owner: -
--

CREATE TRIGGER idempotency_keys_no_delete BEFORE DELETE ON payments.idempotency_keys FOR EACH ROW EXECUTE FUNCTION payments.refuse_change();

--
-- Name: idempotency_keys idempotency_keys_no_truncate; Type: TRIGGER; Schema: payments; Owner: -
--

CREATE TRIGGER idempotency_keys_no_truncate BEFORE TRUNCATE ON payments.idempotency_keys FOR EACH STATEMENT EXECUTE FUNCTION payments.refuse_change();

--
-- Name: idempotency_keys idempotency_keys_no_update; Type: TRIGGER; Schema: payments; Owner: -
--

CREATE TRIGGER idempotency_keys_no_update BEFORE UPDATE ON payments.idempotency_keys FOR EACH ROW EXECUTE FUNCTION payments.refuse_change();

--
-- Name: idempotency_keys idempotency_keys_org; Type: TRIGGER; Schema: payments; Owner: -
--

CREATE TRIGGER idempotency_keys_org AFTER INSERT ON payments.idempotency_keys FOR EACH ROW WHEN (payments._engine_unchecked()) EXECUTE FUNCTION payments.check_new_key();

--
-- Name: lines lines_balanced; Type: TRIGGER; Schema: payments; Owner: -
--

CREATE TRIGGER lines_balanced AFTER INSERT ON payments.lines FOR EACH ROW WHEN (payments._engine_unchecked()) EXECUTE FUNCTION payments.check_new_line();

--
-- Name: lines lines_no_delete; Type: TRIGGER; Schema: payments; Owner: -
--

CREATE TRIGGER lines_no_delete BEFORE DELETE ON payments.lines FOR EACH ROW EXECUTE FUNCTION payments.refuse_change();

--
-- Name: lines lines_no_truncate; Type: TRIGGER; Schema: payments; Owner: -
--

CREATE TRIGGER lines_no_truncate BEFORE TRUNCATE ON payments.lines FOR EACH STATEMENT EXECUTE FUNCTION payments.refuse_change();

--
-- Name: lines lines_no_update; Type: TRIGGER; Schema: payments; Owner: -
--

CREATE TRIGGER lines_no_update BEFORE UPDATE ON payments.lines FOR EACH ROW EXECUTE FUNCTION payments.guard_line_update();

--
-- Name: organizations organizations_no_delete; Type: TRIGGER; Schema: payments; Owner: -
--

CREATE TRIGGER organizations_no_delete BEFORE DELETE ON payments.organizations FOR EACH ROW EXECUTE FUNCTION payments.refuse_change();

--
-- Name: organizations organizations_no_new_id; Type: TRIGGER; Schema: payments; Owner: -
--

CREATE TRIGGER organizations_no_new_id BEFORE UPDATE ON payments.organizations FOR EACH ROW WHEN ((new.id IS DISTINCT FROM old.id)) EXECUTE FUNCTION payments.refuse_change();

--
-- Name: organizations organizations_no_truncate; Type: TRIGGER; Schema: payments; Owner: -
--

CREATE TRIGGER organizations_no_truncate BEFORE TRUNCATE ON payments.organizations FOR EACH STATEMENT EXECUTE FUNCTION payments.refuse_change();

--
-- Name: settlement_entries settlement_entries_checked; Type: TRIGGER; Schema: payments; Owner: -
--

CREATE TRIGGER settlement_entries_checked AFTER INSERT ON payments.settlement_entries REFERENCING NEW TABLE AS new_links FOR EACH STATEMENT EXECUTE FUNCTION payments.check_settlement_links();

--
-- Name: settlement_entries settlement_entries_no_delete; Type: TRIGGER; Schema: payments; Owner: -
--

CREATE TRIGGER settlement_entries_no_delete BEFORE DELETE ON payments.settlement_entries FOR EACH ROW EXECUTE FUNCTION payments.refuse_change();

--
-- Name: settlement_entries settlement_entries_no_truncate; Type: TRIGGER; Schema: payments; Owner: -
--

CREATE TRIGGER settlement_entries_no_truncate BEFORE TRUNCATE ON payments.settlement_entries FOR EACH STATEMENT EXECUTE FUNCTION payments.refuse_change();

--
-- Name: settlement_entries settlement_entries_no_update; Type: TRIGGER; Schema: payments; Owner: -
--

CREATE TRIGGER settlement_entries_no_update BEFORE UPDATE ON payments.settlement_entries FOR EACH ROW EXECUTE FUNCTION payments.refuse_change();

--
-- Name: settlements settlements_no_delete; Type: TRIGGER; Schema: payments; Owner: -
--

CREATE TRIGGER settlements_no_delete BEFORE DELETE ON payments.settlements FOR EACH ROW EXECUTE FUNCTION payments.refuse_change();

--
-- Name: settlements settlements_no_truncate; Type: TRIGGER; Schema: payments; Owner: -
--

CREATE TRIGGER settlements_no_truncate BEFORE TRUNCATE ON payments.settlements FOR EACH STATEMENT EXECUTE FUNCTION payments.refuse_change();

--
-- Name: settlements settlements_no_update; Type: TRIGGER; Schema: payments; Owner: -
--

CREATE TRIGGER settlements_no_update BEFORE UPDATE ON payments.settlements FOR EACH ROW EXECUTE FUNCTION payments.refuse_change();

--
-- Name: orders orders_named; Type: TRIGGER; Schema: ticketing; Owner: -
--

CREATE TRIGGER orders_named AFTER DELETE ON ticketing.orders REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION ticketing.refuse_named_removal();

--
-- Name: orders orders_no_new_key; Type: TRIGGER; Schema: ticketing; Owner: -
--

CREATE TRIGGER orders_no_new_key BEFORE UPDATE OF id, org_id ON ticketing.orders FOR EACH ROW WHEN (((new.id IS DISTINCT FROM old.id) OR (new.org_id IS DISTINCT FROM old.org_id))) EXECUTE FUNCTION ticketing.refuse_change();

--
-- Name: orders orders_no_truncate; Type: TRIGGER; Schema: ticketing; Owner: -
--

CREATE TRIGGER orders_no_truncate BEFORE TRUNCATE ON ticketing.orders FOR EACH STATEMENT EXECUTE FUNCTION ticketing.refuse_change();

--
-- Name: ticket_types ticket_types_no_delete; Type: TRIGGER; Schema: ticketing; Owner: -
--

CREATE TRIGGER ticket_types_no_delete BEFORE DELETE ON ticketing.ticket_types FOR EACH ROW EXECUTE FUNCTION ticketing.refuse_change();

--
-- Name: ticket_types ticket_types_no_new_key; Type: TRIGGER; Schema: ticketing; Owner: -
--

CREATE TRIGGER ticket_types_no_new_key BEFORE UPDATE OF id, event_id, org_id ON ticketing.ticket_types FOR EACH ROW WHEN (((new.id IS DISTINCT FROM old.id) OR (new.event_id IS DISTINCT FROM old.event_id) OR (new.org_id IS DISTINCT FROM old.org_id))) EXECUTE FUNCTION ticketing.refuse_change();

--
-- Name: ticket_types ticket_types_no_truncate; Type: TRIGGER; Schema: ticketing; Owner: -
--

CREATE TRIGGER ticket_types_no_truncate BEFORE TRUNCATE ON ticketing.ticket_types FOR EACH STATEMENT EXECUTE FUNCTION ticketing.refuse_change();

--
-- Name: ticket_types ticket_types_window; Type: TRIGGER; Schema: ticketing; Owner: -
--

CREATE TRIGGER ticket_types_window BEFORE INSERT OR UPDATE OF sales_start, sales_end ON ticketing.ticket_types FOR EACH ROW WHEN ((NOT (new.sales_end > new.sales_start))) EXECUTE FUNCTION ticketing.refuse_window();

--
-- Name: tickets tickets_named; Type: TRIGGER; Schema: ticketing; Owner: -
--

CREATE TRIGGER tickets_named AFTER DELETE ON ticketing.tickets REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION ticketing.refuse_named_removal();

--
-- Name: tickets tickets_references; Type: TRIGGER; Schema: ticketing; Owner: -
--

CREATE TRIGGER tickets_references AFTER INSERT ON ticketing.tickets REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION ticketing.tickets_references();

--
-- Name: tickets tickets_references_fixed; Type: TRIGGER; Schema: ticketing; Owner: -
--

CREATE TRIGGER tickets_references_fixed BEFORE UPDATE OF id, order_id, org_id, event_id, ticket_type_id, replaces ON ticketing.tickets FOR EACH ROW WHEN (((new.id IS DISTINCT FROM old.id) OR (new.order_id IS DISTINCT FROM old.order_id) OR (new.org_id IS DISTINCT FROM old.org_id) OR (new.event_id IS DISTINCT FROM old.event_id) OR (new.ticket_type_id IS DISTINCT FROM old.ticket_type_id) OR (new.replaces IS DISTINCT FROM old.replaces))) EXECUTE FUNCTION ticketing.refuse_change();

--
-- Name: transitions transitions_append_only; Type: TRIGGER; Schema: ticketing; Owner: -
--

CREATE TRIGGER transitions_append_only BEFORE DELETE OR UPDATE ON ticketing.transitions FOR EACH ROW EXECUTE FUNCTION payments.refuse_change();

--
-- Name: attempts attempts_delivery_id_fkey; Type: FK CONSTRAINT; Schema: messaging; Owner: -
--

ALTER TABLE ONLY messaging.attempts
    ADD CONSTRAINT attempts_delivery_id_fkey FOREIGN KEY (delivery_id, org_id) REFERENCES messaging.deliveries(id, org_id) ON DELETE CASCADE;

--
-- Name: deliveries deliveries_endpoint_id_fkey; Type: FK CONSTRAINT; Schema: messaging; Owner: -
--

ALTER TABLE ONLY messaging.deliveries
    ADD CONSTRAINT deliveries_endpoint_id_fkey FOREIGN KEY (endpoint_id, org_id) REFERENCES messaging.endpoints(id, org_id) NOT ENFORCED;

--
-- Name: deliveries deliveries_message_id_fkey; Type: FK CONSTRAINT; Schema: messaging; Owner: -
--

ALTER TABLE ONLY messaging.deliveries
    ADD CONSTRAINT deliveries_message_id_fkey FOREIGN KEY (message_id, org_id) REFERENCES messaging.messages(id, org_id) NOT ENFORCED;

--
-- Name: endpoint_secrets endpoint_secrets_endpoint_id_fkey; Type: FK CONSTRAINT; Schema: messaging; Owner: -
--

ALTER TABLE ONLY messaging.endpoint_secrets
    ADD CONSTRAINT endpoint_secrets_endpoint_id_fkey FOREIGN KEY (endpoint_id, org_id) REFERENCES messaging.endpoints(id, org_id) ON DELETE CASCADE;

--
-- Name: account_categories account_categories_currency_fkey; Type: FK CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.account_categories
    ADD CONSTRAINT account_categories_currency_fkey FOREIGN KEY (currency) REFERENCES payments.currencies(code);

--
-- Name: account_categories account_categories_org_id_fkey; Type: FK CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.account_categories
    ADD CONSTRAINT account_categories_org_id_fkey FOREIGN KEY (org_id) REFERENCES payments.organizations(id);

--
-- Name: accounts accounts_currency_fkey; Type: FK CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.accounts
    ADD CONSTRAINT accounts_currency_fkey FOREIGN KEY (currency) REFERENCES payments.currencies(code);

--
-- Name: accounts accounts_org_id_fkey; Type: FK CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.accounts
    ADD CONSTRAINT accounts_org_id_fkey FOREIGN KEY (org_id) REFERENCES payments.organizations(id);

--
-- Name: api_keys api_keys_org_id_fkey; Type: FK CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.api_keys
    ADD CONSTRAINT api_keys_org_id_fkey FOREIGN KEY (org_id) REFERENCES payments.organizations(id);

--
-- Name: balance_monitors balance_monitors_org_id_fkey; Type: FK CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.balance_monitors
    ADD CONSTRAINT balance_monitors_org_id_fkey FOREIGN KEY (org_id) REFERENCES payments.organizations(id);

--
-- Name: card_disputes card_disputes_escrow_id_fkey; Type: FK CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.card_disputes
    ADD CONSTRAINT card_disputes_escrow_id_fkey FOREIGN KEY (escrow_id, org_id) REFERENCES payments.escrows(id, org_id);

--
-- Name: card_disputes card_disputes_payment_id_fkey; Type: FK CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.card_disputes
    ADD CONSTRAINT card_disputes_payment_id_fkey FOREIGN KEY (payment_id, org_id) REFERENCES payments.card_payments(id, org_id);

--
-- Name: card_payments card_payments_entry_id_fkey; Type: FK CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.card_payments
    ADD CONSTRAINT card_payments_entry_id_fkey FOREIGN KEY (entry_id, org_id) REFERENCES payments.entries(id, org_id);

--
-- Name: card_payments card_payments_escrow_id_fkey; Type: FK CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.card_payments
    ADD CONSTRAINT card_payments_escrow_id_fkey FOREIGN KEY (escrow_id, org_id) REFERENCES payments.escrows(id, org_id);

--
-- Name: card_payments card_payments_org_id_fkey; Type: FK CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.card_payments
    ADD CONSTRAINT card_payments_org_id_fkey FOREIGN KEY (org_id) REFERENCES payments.organizations(id) NOT ENFORCED;

--
-- Name: card_refunds card_refunds_entry_id_fkey; Type: FK CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.card_refunds
    ADD CONSTRAINT card_refunds_entry_id_fkey FOREIGN KEY (entry_id, org_id) REFERENCES payments.entries(id, org_id);

--
-- Name: card_refunds card_refunds_payment_id_fkey; Type: FK CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.card_refunds
    ADD CONSTRAINT card_refunds_payment_id_fkey FOREIGN KEY (payment_id, org_id) REFERENCES payments.card_payments(id, org_id);

--
-- Name: category_members category_members_account_fkey; Type: FK CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.category_members
    ADD CONSTRAINT category_members_account_fkey FOREIGN KEY (account_id, org_id, currency) REFERENCES payments.accounts(id, org_id, currency);

--
-- Name: category_members category_members_category_fkey; Type: FK CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.category_members
    ADD CONSTRAINT category_members_category_fkey FOREIGN KEY (category_id, org_id, currency) REFERENCES payments.account_categories(id, org_id, currency);

--
-- Name: category_members category_members_member_fkey; Type: FK CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.category_members
    ADD CONSTRAINT category_members_member_fkey FOREIGN KEY (member_category_id, org_id, currency) REFERENCES payments.account_categories(id, org_id, currency);

--
-- Name: checkpoints checkpoints_org_id_fkey; Type: FK CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.checkpoints
    ADD CONSTRAINT checkpoints_org_id_fkey FOREIGN KEY (org_id) REFERENCES payments.organizations(id);

--
-- Name: conversions conversions_org_id_fkey; Type: FK CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.conversions
    ADD CONSTRAINT conversions_org_id_fkey FOREIGN KEY (org_id) REFERENCES payments.organizations(id);

--
-- Name: conversions conversions_source_account_id_fkey; Type: FK CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.conversions
    ADD CONSTRAINT conversions_source_account_id_fkey FOREIGN KEY (source_account_id, org_id) REFERENCES payments.accounts(id, org_id);

--
-- Name: conversions conversions_source_currency_fkey; Type: FK CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.conversions
    ADD CONSTRAINT conversions_source_currency_fkey FOREIGN KEY (source_currency) REFERENCES payments.currencies(code);

--
-- Name: conversions conversions_source_entry_id_fkey; Type: FK CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.conversions
    ADD CONSTRAINT conversions_source_entry_id_fkey FOREIGN KEY (source_entry_id, org_id) REFERENCES payments.entries(id, org_id);

--
-- Name: conversions conversions_target_account_id_fkey; Type: FK CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.conversions
    ADD CONSTRAINT conversions_target_account_id_fkey FOREIGN KEY (target_account_id, org_id) REFERENCES payments.accounts(id, org_id);

--
-- Name: conversions conversions_target_currency_fkey; Type: FK CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.conversions
    ADD CONSTRAINT conversions_target_currency_fkey FOREIGN KEY (target_currency) REFERENCES payments.currencies(code);

--
-- Name: conversions conversions_target_entry_id_fkey; Type: FK CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.conversions
    ADD CONSTRAINT conversions_target_entry_id_fkey FOREIGN KEY (target_entry_id, org_id) REFERENCES payments.entries(id, org_id);

--
-- Name: entries entries_hold_id_fkey; Type: FK CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.entries
    ADD CONSTRAINT entries_hold_id_fkey FOREIGN KEY (hold_id, org_id) REFERENCES payments.holds(id, org_id) NOT ENFORCED;

--
-- Name: entries entries_reverses_entry_id_fkey; Type: FK CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.entries
    ADD CONSTRAINT entries_reverses_entry_id_fkey FOREIGN KEY (reverses_entry_id, org_id) REFERENCES payments.entries(id, org_id) NOT ENFORCED;

--
-- Name: escrow_transitions escrow_transitions_entry_id_fkey; Type: FK CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.escrow_transitions
    ADD CONSTRAINT escrow_transitions_entry_id_fkey FOREIGN KEY (entry_id, org_id) REFERENCES payments.entries(id, org_id);

--
-- Name: escrow_transitions escrow_transitions_escrow_id_fkey; Type: FK CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.escrow_transitions
    ADD CONSTRAINT escrow_transitions_escrow_id_fkey FOREIGN KEY (escrow_id, org_id) REFERENCES payments.escrows(id, org_id);

--
-- Name: escrows escrows_currency_fkey; Type: FK CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.escrows
    ADD CONSTRAINT escrows_currency_fkey FOREIGN KEY (currency) REFERENCES payments.currencies(code);

--
-- Name: escrows escrows_org_id_fkey; Type: FK CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.escrows
    ADD CONSTRAINT escrows_org_id_fkey FOREIGN KEY (org_id) REFERENCES payments.organizations(id);

--
-- Name: fx_rates fx_rates_source_currency_fkey; Type: FK CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.fx_rates
    ADD CONSTRAINT fx_rates_source_currency_fkey FOREIGN KEY (source_currency) REFERENCES payments.currencies(code);

--
-- Name: fx_rates fx_rates_target_currency_fkey; Type: FK CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.fx_rates
    ADD CONSTRAINT fx_rates_target_currency_fkey FOREIGN KEY (target_currency) REFERENCES payments.currencies(code);

--
-- Name: hold_expiries hold_expiries_hold_id_fkey; Type: FK CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.hold_expiries
    ADD CONSTRAINT hold_expiries_hold_id_fkey FOREIGN KEY (hold_id, org_id) REFERENCES payments.holds(id, org_id);

--
-- Name: hold_resolutions hold_resolutions_entry_id_fkey; Type: FK CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.hold_resolutions
    ADD CONSTRAINT hold_resolutions_entry_id_fkey FOREIGN KEY (entry_id, org_id) REFERENCES payments.entries(id, org_id);

--
-- Name: hold_resolutions hold_resolutions_hold_id_fkey; Type: FK CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.hold_resolutions
    ADD CONSTRAINT hold_resolutions_hold_id_fkey FOREIGN KEY (hold_id, org_id) REFERENCES payments.holds(id, org_id);

--
-- Name: hold_resolutions hold_resolutions_org_id_fkey; Type: FK CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.hold_resolutions
    ADD CONSTRAINT hold_resolutions_org_id_fkey FOREIGN KEY (org_id) REFERENCES payments.organizations(id);

--
-- Name: holds holds_credit_account_id_fkey; Type: FK CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.holds
    ADD CONSTRAINT holds_credit_account_id_fkey FOREIGN KEY (credit_account_id, credit_org_id) REFERENCES payments.accounts(id, org_id);

--
-- Name: holds holds_currency_fkey; Type: FK CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.holds
    ADD CONSTRAINT holds_currency_fkey FOREIGN KEY (currency) REFERENCES payments.currencies(code);

--
-- Name: holds holds_debit_account_id_fkey; Type: FK CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.holds
    ADD CONSTRAINT holds_debit_account_id_fkey FOREIGN KEY (debit_account_id, debit_org_id) REFERENCES payments.accounts(id, org_id);

--
-- Name: holds holds_org_id_fkey; Type: FK CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.holds
    ADD CONSTRAINT holds_org_id_fkey FOREIGN KEY (org_id) REFERENCES payments.organizations(id);

--
-- Name: organizer_policies organizer_policies_org_id_fkey; Type: FK CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.organizer_policies
    ADD CONSTRAINT organizer_policies_org_id_fkey FOREIGN KEY (org_id) REFERENCES payments.organizations(id);

--
-- Name: organizer_transfers organizer_transfers_escrow_id_fkey; Type: FK CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.organizer_transfers
    ADD CONSTRAINT organizer_transfers_escrow_id_fkey FOREIGN KEY (escrow_id, org_id) REFERENCES payments.escrows(id, org_id);

--
-- Name: organizer_transfers organizer_transfers_org_id_fkey; Type: FK CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.organizer_transfers
    ADD CONSTRAINT organizer_transfers_org_id_fkey FOREIGN KEY (org_id) REFERENCES payments.organizations(id);

--
-- Name: organizer_transfers organizer_transfers_settlement_id_fkey; Type: FK CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.organizer_transfers
    ADD CONSTRAINT organizer_transfers_settlement_id_fkey FOREIGN KEY (settlement_id, org_id) REFERENCES payments.settlements(id, org_id);

--
-- Name: settlement_entries settlement_entries_org_id_fkey; Type: FK CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.settlement_entries
    ADD CONSTRAINT settlement_entries_org_id_fkey FOREIGN KEY (org_id) REFERENCES payments.organizations(id);

--
-- Name: settlement_entries settlement_entries_settlement_fkey; Type: FK CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.settlement_entries
    ADD CONSTRAINT settlement_entries_settlement_fkey FOREIGN KEY (settlement_id, account_id, org_id) REFERENCES payments.settlements(id, account_id, org_id);

--
-- Name: settlements settlements_account_fkey; Type: FK CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.settlements
    ADD CONSTRAINT settlements_account_fkey FOREIGN KEY (account_id, org_id, currency) REFERENCES payments.accounts(id, org_id, currency);

--
-- Name: settlements settlements_org_id_fkey; Type: FK CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.settlements
    ADD CONSTRAINT settlements_org_id_fkey FOREIGN KEY (org_id) REFERENCES payments.organizations(id);

--
-- Name: transfer_requests transfer_requests_entry_id_fkey; Type: FK CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.transfer_requests
    ADD CONSTRAINT transfer_requests_entry_id_fkey FOREIGN KEY (entry_id, org_id) REFERENCES payments.entries(id, org_id);

--
-- Name: transfer_requests transfer_requests_escrow_id_fkey; Type: FK CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.transfer_requests
    ADD CONSTRAINT transfer_requests_escrow_id_fkey FOREIGN KEY (escrow_id, org_id) REFERENCES payments.escrows(id, org_id);

--
-- Name: transfer_requests transfer_requests_org_id_fkey; Type: FK CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.transfer_requests
    ADD CONSTRAINT transfer_requests_org_id_fkey FOREIGN KEY (org_id) REFERENCES payments.organizations(id);

--
-- Name: transfer_requests transfer_requests_transfer_id_fkey; Type: FK CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.transfer_requests
    ADD CONSTRAINT transfer_requests_transfer_id_fkey FOREIGN KEY (transfer_id, org_id) REFERENCES payments.organizer_transfers(id, org_id);

--
-- Name: transfer_reversal_requests transfer_reversal_requests_org_id_fkey; Type: FK CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.transfer_reversal_requests
    ADD CONSTRAINT transfer_reversal_requests_org_id_fkey FOREIGN KEY (org_id) REFERENCES payments.organizations(id);

--
-- Name: transfer_reversal_requests transfer_reversal_requests_transfer_id_fkey; Type: FK CONSTRAINT; Schema: payments; Owner: -
--

ALTER TABLE ONLY payments.transfer_reversal_requests
    ADD CONSTRAINT transfer_reversal_requests_transfer_id_fkey FOREIGN KEY (transfer_id, org_id) REFERENCES payments.organizer_transfers(id, org_id);

--
-- Name: events events_currency_fkey; Type: FK CONSTRAINT; Schema: ticketing; Owner: -
--

ALTER TABLE ONLY ticketing.events
    ADD CONSTRAINT events_currency_fkey FOREIGN KEY (currency) REFERENCES payments.currencies(code);

--
-- Name: events events_org_id_fkey; Type: FK CONSTRAINT; Schema: ticketing; Owner: -
--

ALTER TABLE ONLY ticketing.events
    ADD CONSTRAINT events_org_id_fkey FOREIGN KEY (org_id) REFERENCES payments.organizations(id);

--
-- Name: orders orders_event_id_fkey; Type: FK CONSTRAINT; Schema: ticketing; Owner: -
--

ALTER TABLE ONLY ticketing.orders
    ADD CONSTRAINT orders_event_id_fkey FOREIGN KEY (event_id, org_id) REFERENCES ticketing.events(id, org_id);

--
-- Name: orders orders_org_id_fkey; Type: FK CONSTRAINT; Schema: ticketing; Owner: -
--

ALTER TABLE ONLY ticketing.orders
    ADD CONSTRAINT orders_org_id_fkey FOREIGN KEY (org_id) REFERENCES payments.organizations(id) NOT ENFORCED;

--
-- Name: refunds refunds_order_id_fkey; Type: FK CONSTRAINT; Schema: ticketing; Owner: -
--

ALTER TABLE ONLY ticketing.refunds
    ADD CONSTRAINT refunds_order_id_fkey FOREIGN KEY (order_id, org_id) REFERENCES ticketing.orders(id, org_id);

--
-- Name: ticket_types ticket_types_currency_fkey; Type: FK CONSTRAINT; Schema: ticketing; Owner: -
--

ALTER TABLE ONLY ticketing.ticket_types
    ADD CONSTRAINT ticket_types_currency_fkey FOREIGN KEY (currency) REFERENCES payments.currencies(code);

--
-- Name: ticket_types ticket_types_event_id_fkey; Type: FK CONSTRAINT; Schema: ticketing; Owner: -
--

ALTER TABLE ONLY ticketing.ticket_types
    ADD CONSTRAINT ticket_types_event_id_fkey FOREIGN KEY (event_id, org_id) REFERENCES ticketing.events(id, org_id);

--
-- Name: tickets tickets_event_id_fkey; Type: FK CONSTRAINT; Schema: ticketing; Owner: -
--

ALTER TABLE ONLY ticketing.tickets
    ADD CONSTRAINT tickets_event_id_fkey FOREIGN KEY (event_id, org_id) REFERENCES ticketing.events(id, org_id) NOT ENFORCED;

--
-- Name: tickets tickets_order_id_fkey; Type: FK CONSTRAINT; Schema: ticketing; Owner: -
--

ALTER TABLE ONLY ticketing.tickets
    ADD CONSTRAINT tickets_order_id_fkey FOREIGN KEY (order_id, org_id) REFERENCES ticketing.orders(id, org_id) NOT ENFORCED;

--
-- Name: tickets tickets_replaces_fkey; Type: FK CONSTRAINT; Schema: ticketing; Owner: -
--

ALTER TABLE ONLY ticketing.tickets
    ADD CONSTRAINT tickets_replaces_fkey FOREIGN KEY (replaces, org_id) REFERENCES ticketing.tickets(id, org_id) NOT ENFORCED;

--
-- Name: tickets tickets_ticket_type_id_fkey; Type: FK CONSTRAINT; Schema: ticketing; Owner: -
--

ALTER TABLE ONLY ticketing.tickets
    ADD CONSTRAINT tickets_ticket_type_id_fkey FOREIGN KEY (ticket_type_id, event_id, org_id) REFERENCES ticketing.ticket_types(id, event_id, org_id) NOT ENFORCED;

--
-- Name: attempts; Type: ROW SECURITY; Schema: messaging; Owner: -
--

ALTER TABLE messaging.attempts ENABLE ROW LEVEL SECURITY;

--
-- Name: deliveries; Type: ROW SECURITY; Schema: messaging; Owner: -
--

ALTER TABLE messaging.deliveries ENABLE ROW LEVEL SECURITY;

--
-- Name: endpoint_secrets; Type: ROW SECURITY; Schema: messaging; Owner: -
--

ALTER TABLE messaging.endpoint_secrets ENABLE ROW LEVEL SECURITY;

--
-- Name: endpoints; Type: ROW SECURITY; Schema: messaging; Owner: -
--

ALTER TABLE messaging.endpoints ENABLE ROW LEVEL SECURITY;

--
-- Name: inbox; Type: ROW SECURITY; Schema: messaging; Owner: -
--

ALTER TABLE messaging.inbox ENABLE ROW LEVEL SECURITY;

--
-- Name: messages; Type: ROW SECURITY; Schema: messaging; Owner: -
--

ALTER TABLE messaging.messages ENABLE ROW LEVEL SECURITY;

--
-- Name: attempts platform; Type: POLICY; Schema: messaging; Owner: -
--

CREATE POLICY platform ON messaging.attempts TO liventix_platform USING (( SELECT payments.acting_as_platform() AS acting_as_platform)) WITH CHECK (( SELECT payments.acting_as_platform() AS acting_as_platform));

--
-- Name: deliveries platform; Type: POLICY; Schema: messaging; Owner: -
--

CREATE POLICY platform ON messaging.deliveries TO liventix_platform USING (( SELECT payments.acting_as_platform() AS acting_as_platform)) WITH CHECK (( SELECT payments.acting_as_platform() AS acting_as_platform));

--
-- Name: endpoint_secrets platform; Type: POLICY; Schema: messaging; Owner: -
--

CREATE POLICY platform ON messaging.endpoint_secrets TO liventix_platform USING (( SELECT payments.acting_as_platform() AS acting_as_platform)) WITH CHECK (( SELECT payments.acting_as_platform() AS acting_as_platform));

--
-- Name: endpoints platform; Type: POLICY; Schema: messaging; Owner: -
--

CREATE POLICY platform ON messaging.endpoints TO liventix_platform USING (( SELECT payments.acting_as_platform() AS acting_as_platform)) WITH CHECK (( SELECT payments.acting_as_platform() AS acting_as_platform));

--
-- Name: inbox platform; Type: POLICY; Schema: messaging; Owner: -
--

CREATE POLICY platform ON messaging.inbox TO liventix_platform USING (( SELECT payments.acting_as_platform() AS acting_as_platform)) WITH CHECK (( SELECT payments.acting_as_platform() AS acting_as_platform));

--
-- Name: messages platform; Type: POLICY; Schema: messaging; Owner: -
--

CREATE POLICY platform ON messaging.messages TO liventix_platform USING (( SELECT payments.acting_as_platform() AS acting_as_platform)) WITH CHECK (( SELECT payments.acting_as_platform() AS acting_as_platform));

--
-- Name: attempts tenant; Type: POLICY; Schema: messaging; Owner: -
--

CREATE POLICY tenant ON messaging.attempts TO liventix_app USING ((org_id = ( SELECT messaging.current_org_id() AS current_org_id)));

--
-- Name: deliveries tenant; Type: POLICY; Schema: messaging; Owner: -
--

CREATE POLICY tenant ON messaging.deliveries TO liventix_app USING ((org_id = ( SELECT messaging.current_org_id() AS current_org_id))) WITH CHECK ((org_id = ( SELECT messaging.current_org_id() AS current_org_id)));

--
-- Name: endpoint_secrets tenant; Type: POLICY; Schema: messaging; Owner: -
--

CREATE POLICY tenant ON messaging.endpoint_secrets TO liventix_app USING ((org_id = ( SELECT messaging.current_org_id() AS current_org_id))) WITH CHECK ((org_id = ( SELECT messaging.current_org_id() AS current_org_id)));

--
-- Name: endpoints tenant; Type: POLICY; Schema: messaging; Owner: -
--

CREATE POLICY tenant ON messaging.endpoints TO liventix_app USING ((org_id = ( SELECT messaging.current_org_id() AS current_org_id))) WITH CHECK ((org_id = ( SELECT messaging.current_org_id() AS current_org_id)));

--
-- Name: messages tenant; Type: POLICY; Schema: messaging; Owner: -
--

CREATE POLICY tenant ON messaging.messages TO liventix_app USING ((org_id = ( SELECT messaging.current_org_id() AS current_org_id))) WITH CHECK ((org_id = ( SELECT messaging.current_org_id() AS current_org_id)));

--
-- Name: account_categories; Type: ROW SECURITY; Schema: payments; Owner: -
--

ALTER TABLE payments.account_categories ENABLE ROW LEVEL SECURITY;

--
-- Name: accounts; Type: ROW SECURITY; Schema: payments; Owner: -
--

ALTER TABLE payments.accounts ENABLE ROW LEVEL SECURITY;

--
-- Name: api_idempotency; Type: ROW SECURITY; Schema: payments; Owner: -
--

ALTER TABLE payments.api_idempotency ENABLE ROW LEVEL SECURITY;

--
-- Name: api_keys; Type: ROW SECURITY; Schema: payments; Owner: -
--

ALTER TABLE payments.api_keys ENABLE ROW LEVEL SECURITY;

--
-- Name: balance_monitors; Type: ROW SECURITY; Schema: payments; Owner: -
--

ALTER TABLE payments.balance_monitors ENABLE ROW LEVEL SECURITY;

--
-- Name: card_disputes; Type: ROW SECURITY; Schema: payments; Owner: -
--

ALTER TABLE payments.card_disputes ENABLE ROW LEVEL SECURITY;

--
-- Name: card_payments; Type: ROW SECURITY; Schema: payments; Owner: -
--

ALTER TABLE payments.card_payments ENABLE ROW LEVEL SECURITY;

--
-- Name: card_refunds; Type: ROW SECURITY; Schema: payments; Owner: -
--

ALTER TABLE payments.card_refunds ENABLE ROW LEVEL SECURITY;

--
-- Name: category_members; Type: ROW SECURITY; Schema: payments; Owner: -
--

ALTER TABLE payments.category_members ENABLE ROW LEVEL SECURITY;

--
-- Name: checkpoints; Type: ROW SECURITY; Schema: payments; Owner: -
--

ALTER TABLE payments.checkpoints ENABLE ROW LEVEL SECURITY;

--
-- Name: conversions; Type: ROW SECURITY; Schema: payments; Owner: -
--

ALTER TABLE payments.conversions ENABLE ROW LEVEL SECURITY;

--
-- Name: entries; Type: ROW SECURITY; Schema: payments; Owner: -
--

ALTER TABLE payments.entries ENABLE ROW LEVEL SECURITY;

--
-- Name: entry_seals; Type: ROW SECURITY; Schema: payments; Owner: -
--

ALTER TABLE payments.entry_seals ENABLE ROW LEVEL SECURITY;

--
-- Name: escrow_transitions; Type: ROW SECURITY; Schema: payments; Owner: -
--

ALTER TABLE payments.escrow_transitions ENABLE ROW LEVEL SECURITY;

--
-- Name: escrows; Type: ROW SECURITY; Schema: payments; Owner: -
--

ALTER TABLE payments.escrows ENABLE ROW LEVEL SECURITY;

--
-- Name: fx_rates; Type: ROW SECURITY; Schema: payments; Owner: -
--

ALTER TABLE payments.fx_rates ENABLE ROW LEVEL SECURITY;

--
-- Name: hold_expiries; Type: ROW SECURITY; Schema: payments; Owner: -
--

ALTER TABLE payments.hold_expiries ENABLE ROW LEVEL SECURITY;

--
-- Name: hold_resolutions; Type: ROW SECURITY; Schema: payments; Owner: -
--

ALTER TABLE payments.hold_resolutions ENABLE ROW LEVEL SECURITY;

--
-- Name: holds; Type: ROW SECURITY; Schema: payments; Owner: -
--

ALTER TABLE payments.holds ENABLE ROW LEVEL SECURITY;

--
-- Name: idempotency_keys; Type: ROW SECURITY; Schema: payments; Owner: -
--

ALTER TABLE payments.idempotency_keys ENABLE ROW LEVEL SECURITY;

--
-- Name: lines; Type: ROW SECURITY; Schema: payments; Owner: -
--

ALTER TABLE payments.lines ENABLE ROW LEVEL SECURITY;

--
-- Name: organizations; Type: ROW SECURITY; Schema: payments; Owner: -
--

ALTER TABLE payments.organizations ENABLE ROW LEVEL SECURITY;

--
-- Name: organizer_policies; Type: ROW SECURITY; Schema: payments; Owner: -
--

ALTER TABLE payments.organizer_policies ENABLE ROW LEVEL SECURITY;

--
-- Name: organizer_transfers; Type: ROW SECURITY; Schema: payments; Owner: -
--

ALTER TABLE payments.organizer_transfers ENABLE ROW LEVEL SECURITY;

--
-- Name: account_categories platform; Type: POLICY; Schema: payments; Owner: -
--

CREATE POLICY platform ON payments.account_categories TO liventix_platform USING (( SELECT payments.acting_as_platform() AS acting_as_platform)) WITH CHECK (( SELECT payments.acting_as_platform() AS acting_as_platform));

--
-- Name: accounts platform; Type: POLICY; Schema: payments; Owner: -
--

CREATE POLICY platform ON payments.accounts TO liventix_platform USING (( SELECT payments.acting_as_platform() AS acting_as_platform)) WITH CHECK (( SELECT payments.acting_as_platform() AS acting_as_platform));

--
-- Name: api_idempotency platform; Type: POLICY; Schema: payments; Owner: -
--

CREATE POLICY platform ON payments.api_idempotency TO liventix_platform USING (( SELECT payments.acting_as_platform() AS acting_as_platform)) WITH CHECK (( SELECT payments.acting_as_platform() AS acting_as_platform));

--
-- Name: balance_monitors platform; Type: POLICY; Schema: payments; Owner: -
--

CREATE POLICY platform ON payments.balance_monitors TO liventix_platform USING (( SELECT payments.acting_as_platform() AS acting_as_platform));

--
-- Name: card_disputes platform; Type: POLICY; Schema: payments; Owner: -
--

CREATE POLICY platform ON payments.card_disputes TO liventix_platform USING (( SELECT payments.acting_as_platform() AS acting_as_platform)) WITH CHECK (( SELECT payments.acting_as_platform() AS acting_as_platform));

--
-- Name: card_payments platform; Type: POLICY; Schema: payments; Owner: -
--

CREATE POLICY platform ON payments.card_payments TO liventix_platform USING (( SELECT payments.acting_as_platform() AS acting_as_platform)) WITH CHECK (( SELECT payments.acting_as_platform() AS acting_as_platform));

--
-- Name: card_refunds platform; Type: POLICY; Schema: payments; Owner: -
--

CREATE POLICY platform ON payments.card_refunds TO liventix_platform USING (( SELECT payments.acting_as_platform() AS acting_as_platform)) WITH CHECK (( SELECT payments.acting_as_platform() AS acting_as_platform));

--
-- Name: category_members platform; Type: POLICY; Schema: payments; Owner: -
--

CREATE POLICY platform ON payments.category_members TO liventix_platform USING (( SELECT payments.acting_as_platform() AS acting_as_platform)) WITH CHECK (( SELECT payments.acting_as_platform() AS acting_as_platform));

--
-- Name: checkpoints platform; Type: POLICY; Schema: payments; Owner: -
--

CREATE POLICY platform ON payments.checkpoints TO liventix_platform USING (( SELECT payments.acting_as_platform() AS acting_as_platform));

--
-- Name: conversions platform; Type: POLICY; Schema: payments; Owner: -
--

CREATE POLICY platform ON payments.conversions TO liventix_platform USING (( SELECT payments.acting_as_platform() AS acting_as_platform)) WITH CHECK (( SELECT payments.acting_as_platform() AS acting_as_platform));

--
-- Name: entries platform; Type: POLICY; Schema: payments; Owner: -
--

CREATE POLICY platform ON payments.entries TO liventix_platform USING (( SELECT payments.acting_as_platform() AS acting_as_platform)) WITH CHECK (( SELECT payments.acting_as_platform() AS acting_as_platform));

--
-- Name: entry_seals platform; Type: POLICY; Schema: payments; Owner: -
--

CREATE POLICY platform ON payments.entry_seals TO liventix_platform USING (( SELECT payments.acting_as_platform() AS acting_as_platform));

--
-- Name: escrow_transitions platform; Type: POLICY; Schema: payments; Owner: -
--

CREATE POLICY platform ON payments.escrow_transitions TO liventix_platform USING (( SELECT payments.acting_as_platform() AS acting_as_platform)) WITH CHECK (( SELECT payments.acting_as_platform() AS acting_as_platform));

--
-- Name: escrows platform; Type: POLICY; Schema: payments; Owner: -
--

CREATE POLICY platform ON payments.escrows TO liventix_platform USING (( SELECT payments.acting_as_platform() AS acting_as_platform)) WITH CHECK (( SELECT payments.acting_as_platform() AS acting_as_platform));

--
-- Name: hold_resolutions platform; Type: POLICY; Schema: payments; Owner: -
--

CREATE POLICY platform ON payments.hold_resolutions TO liventix_platform USING (( SELECT payments.acting_as_platform() AS acting_as_platform)) WITH CHECK (( SELECT payments.acting_as_platform() AS acting_as_platform));

--
-- Name: holds platform; Type: POLICY; Schema: payments; Owner: -
--

CREATE POLICY platform ON payments.holds TO liventix_platform USING (( SELECT payments.acting_as_platform() AS acting_as_platform)) WITH CHECK (( SELECT payments.acting_as_platform() AS acting_as_platform));

--
-- Name: idempotency_keys platform; Type: POLICY; Schema: payments; Owner: -
--

CREATE POLICY platform ON payments.idempotency_keys TO liventix_platform USING (( SELECT payments.acting_as_platform() AS acting_as_platform)) WITH CHECK (( SELECT payments.acting_as_platform() AS acting_as_platform));

--
-- Name: lines platform; Type: POLICY; Schema: payments; Owner: -
--

CREATE POLICY platform ON payments.lines TO liventix_platform USING (( SELECT payments.acting_as_platform() AS acting_as_platform)) WITH CHECK (( SELECT payments.acting_as_platform() AS acting_as_platform));

--
-- Name: organizations platform; Type: POLICY; Schema: payments; Owner: -
--

CREATE POLICY platform ON payments.organizations TO liventix_platform USING (( SELECT payments.acting_as_platform() AS acting_as_platform)) WITH CHECK (( SELECT payments.acting_as_platform() AS acting_as_platform));

--
-- Name: organizer_policies platform; Type: POLICY; Schema: payments; Owner: -
--

CREATE POLICY platform ON payments.organizer_policies TO liventix_platform USING (( SELECT payments.acting_as_platform() AS acting_as_platform)) WITH CHECK (( SELECT payments.acting_as_platform() AS acting_as_platform));

--
-- Name: organizer_transfers platform; Type: POLICY; Schema: payments; Owner: -
--

CREATE POLICY platform ON payments.organizer_transfers TO liventix_platform USING (( SELECT payments.acting_as_platform() AS acting_as_platform)) WITH CHECK (( SELECT payments.acting_as_platform() AS acting_as_platform));

--
-- Name: platform_payouts platform; Type: POLICY; Schema: payments; Owner: -
--

CREATE POLICY platform ON payments.platform_payouts TO liventix_platform USING (( SELECT payments.acting_as_platform() AS acting_as_platform)) WITH CHECK (( SELECT payments.acting_as_platform() AS acting_as_platform));

--
-- Name: settlement_entries platform; Type: POLICY; Schema: payments; Owner: -
--

CREATE POLICY platform ON payments.settlement_entries TO liventix_platform USING (( SELECT payments.acting_as_platform() AS acting_as_platform)) WITH CHECK (( SELECT payments.acting_as_platform() AS acting_as_platform));

--
-- Name: settlements platform; Type: POLICY; Schema: payments; Owner: -
--

CREATE POLICY platform ON payments.settlements TO liventix_platform USING (( SELECT payments.acting_as_platform() AS acting_as_platform)) WITH CHECK (( SELECT payments.acting_as_platform() AS acting_as_platform));

--
-- Name: transfer_requests platform; Type: POLICY; Schema: payments; Owner: -
--

CREATE POLICY platform ON payments.transfer_requests TO liventix_platform USING (( SELECT payments.acting_as_platform() AS acting_as_platform)) WITH CHECK (( SELECT payments.acting_as_platform() AS acting_as_platform));

--
-- Name: transfer_reversal_requests platform; Type: POLICY; Schema: payments; Owner: -
--

CREATE POLICY platform ON payments.transfer_reversal_requests TO liventix_platform USING (( SELECT payments.acting_as_platform() AS acting_as_platform)) WITH CHECK (( SELECT payments.acting_as_platform() AS acting_as_platform));

--
-- Name: platform_payouts; Type: ROW SECURITY; Schema: payments; Owner: -
--

ALTER TABLE payments.platform_payouts ENABLE ROW LEVEL SECURITY;

--
-- Name: fx_rates proven; Type: POLICY; Schema: payments; Owner: -
--

CREATE POLICY proven ON payments.fx_rates FOR SELECT TO liventix_app, liventix_platform USING ((( SELECT payments.current_actor() AS current_actor) IS NOT NULL));

--
-- Name: settlement_entries; Type: ROW SECURITY; Schema: payments; Owner: -
--

ALTER TABLE payments.settlement_entries ENABLE ROW LEVEL SECURITY;

--
-- Name: settlements; Type: ROW SECURITY; Schema: payments; Owner: -
--

ALTER TABLE payments.settlements ENABLE ROW LEVEL SECURITY;

--
-- Name: account_categories tenant; Type: POLICY; Schema: payments; Owner: -
--

CREATE POLICY tenant ON payments.account_categories TO liventix_app USING ((org_id = ( SELECT payments.current_org_id() AS current_org_id))) WITH CHECK ((org_id = ( SELECT payments.current_org_id() AS current_org_id)));

--
-- Name: accounts tenant; Type: POLICY; Schema: payments; Owner: -
--

CREATE POLICY tenant ON payments.accounts TO liventix_app USING ((org_id = ( SELECT payments.current_org_id() AS current_org_id))) WITH CHECK ((org_id = ( SELECT payments.current_org_id() AS current_org_id)));

--
-- Name: api_idempotency tenant; Type: POLICY; Schema: payments; Owner: -
--

CREATE POLICY tenant ON payments.api_idempotency TO liventix_app USING ((scope = ( SELECT ((NULLIF(payments.current_actor(), 'platform'::text))::uuid)::text AS "nullif"))) WITH CHECK ((scope = ( SELECT ((NULLIF(payments.current_actor(), 'platform'::text))::uuid)::text AS "nullif")));

--
-- Name: balance_monitors tenant; Type: POLICY; Schema: payments; Owner: -
--

CREATE POLICY tenant ON payments.balance_monitors TO liventix_app USING ((org_id = ( SELECT payments.current_org_id() AS current_org_id)));

--
-- Name: card_disputes tenant; Type: POLICY; Schema: payments; Owner: -
--

CREATE POLICY tenant ON payments.card_disputes TO liventix_app USING ((org_id = ( SELECT payments.current_org_id() AS current_org_id))) WITH CHECK ((org_id = ( SELECT payments.current_org_id() AS current_org_id)));

--
-- Name: card_payments tenant; Type: POLICY; Schema: payments; Owner: -
--

CREATE POLICY tenant ON payments.card_payments TO liventix_app USING ((org_id = ( SELECT payments.current_org_id() AS current_org_id))) WITH CHECK ((org_id = ( SELECT payments.current_org_id() AS current_org_id)));

--
-- Name: card_refunds tenant; Type: POLICY; Schema: payments; Owner: -
--

CREATE POLICY tenant ON payments.card_refunds TO liventix_app USING ((org_id = ( SELECT payments.current_org_id() AS current_org_id))) WITH CHECK ((org_id = ( SELECT payments.current_org_id() AS current_org_id)));

--
-- Name: category_members tenant; Type: POLICY; Schema: payments; Owner: -
--

CREATE POLICY tenant ON payments.category_members TO liventix_app USING ((org_id = ( SELECT payments.current_org_id() AS current_org_id))) WITH CHECK ((org_id = ( SELECT payments.current_org_id() AS current_org_id)));

--
-- Name: checkpoints tenant; Type: POLICY; Schema: payments; Owner: -
--

CREATE POLICY tenant ON payments.checkpoints TO liventix_app USING ((org_id = ( SELECT payments.current_org_id() AS current_org_id)));

--
-- Name: conversions tenant; Type: POLICY; Schema: payments; Owner: -
--

CREATE POLICY tenant ON payments.conversions TO liventix_app USING ((org_id = ( SELECT payments.current_org_id() AS current_org_id))) WITH CHECK ((org_id = ( SELECT payments.current_org_id() AS current_org_id)));

--
-- Name: entries tenant; Type: POLICY; Schema: payments; Owner: -
--

CREATE POLICY tenant ON payments.entries TO liventix_app USING ((org_id = ( SELECT payments.current_org_id() AS current_org_id))) WITH CHECK ((org_id = ( SELECT payments.current_org_id() AS current_org_id)));

--
-- Name: entry_seals tenant; Type: POLICY; Schema: payments; Owner: -
--

CREATE POLICY tenant ON payments.entry_seals TO liventix_app USING ((org_id = ( SELECT payments.current_org_id() AS current_org_id)));

--
-- Name: escrow_transitions tenant; Type: POLICY; Schema: payments; Owner: -
--

CREATE POLICY tenant ON payments.escrow_transitions TO liventix_app USING ((org_id = ( SELECT payments.current_org_id() AS current_org_id))) WITH CHECK ((org_id = ( SELECT payments.current_org_id() AS current_org_id)));

--
-- Name: escrows tenant; Type: POLICY; Schema: payments; Owner: -
--

CREATE POLICY tenant ON payments.escrows TO liventix_app USING ((org_id = ( SELECT payments.current_org_id() AS current_org_id))) WITH CHECK ((org_id = ( SELECT payments.current_org_id() AS current_org_id)));

--
-- Name: hold_resolutions tenant; Type: POLICY; Schema: payments; Owner: -
--

CREATE POLICY tenant ON payments.hold_resolutions TO liventix_app USING ((org_id = ( SELECT payments.current_org_id() AS current_org_id))) WITH CHECK ((org_id = ( SELECT payments.current_org_id() AS current_org_id)));

--
-- Name: holds tenant; Type: POLICY; Schema: payments; Owner: -
--

CREATE POLICY tenant ON payments.holds TO liventix_app USING ((org_id = ( SELECT payments.current_org_id() AS current_org_id))) WITH CHECK ((org_id = ( SELECT payments.current_org_id() AS current_org_id)));

--
-- Name: idempotency_keys tenant; Type: POLICY; Schema: payments; Owner: -
--

CREATE POLICY tenant ON payments.idempotency_keys TO liventix_app USING ((org_id = ( SELECT payments.current_org_id() AS current_org_id))) WITH CHECK ((org_id = ( SELECT payments.current_org_id() AS current_org_id)));

--
-- Name: lines tenant; Type: POLICY; Schema: payments; Owner: -
--

CREATE POLICY tenant ON payments.lines TO liventix_app USING (((org_id = ( SELECT payments.current_org_id() AS current_org_id)) OR (entry_org_id = ( SELECT payments.current_org_id() AS current_org_id)))) WITH CHECK ((entry_org_id = ( SELECT payments.current_org_id() AS current_org_id)));

--
-- Name: organizations tenant; Type: POLICY; Schema: payments; Owner: -
--

CREATE POLICY tenant ON payments.organizations TO liventix_app USING ((id = ( SELECT payments.current_org_id() AS current_org_id))) WITH CHECK ((id = ( SELECT payments.current_org_id() AS current_org_id)));

--
-- Name: organizer_policies tenant; Type: POLICY; Schema: payments; Owner: -
--

CREATE POLICY tenant ON payments.organizer_policies TO liventix_app USING ((org_id = ( SELECT payments.current_org_id() AS current_org_id))) WITH CHECK ((org_id = ( SELECT payments.current_org_id() AS current_org_id)));

--
-- Name: organizer_transfers tenant; Type: POLICY; Schema: payments; Owner: -
--

CREATE POLICY tenant ON payments.organizer_transfers TO liventix_app USING ((org_id = ( SELECT payments.current_org_id() AS current_org_id))) WITH CHECK ((org_id = ( SELECT payments.current_org_id() AS current_org_id)));

--
-- Name: settlement_entries tenant; Type: POLICY; Schema: payments; Owner: -
--

CREATE POLICY tenant ON payments.settlement_entries TO liventix_app USING ((org_id = ( SELECT payments.current_org_id() AS current_org_id))) WITH CHECK ((org_id = ( SELECT payments.current_org_id() AS current_org_id)));

--
-- Name: settlements tenant; Type: POLICY; Schema: payments; Owner: -
--

CREATE POLICY tenant ON payments.settlements TO liventix_app USING ((org_id = ( SELECT payments.current_org_id() AS current_org_id))) WITH CHECK ((org_id = ( SELECT payments.current_org_id() AS current_org_id)));

--
-- Name: transfer_requests tenant; Type: POLICY; Schema: payments; Owner: -
--

CREATE POLICY tenant ON payments.transfer_requests TO liventix_app USING ((org_id = ( SELECT payments.current_org_id() AS current_org_id))) WITH CHECK ((org_id = ( SELECT payments.current_org_id() AS current_org_id)));

--
-- Name: transfer_reversal_requests tenant; Type: POLICY; Schema: payments; Owner: -
--

CREATE POLICY tenant ON payments.transfer_reversal_requests TO liventix_app USING ((org_id = ( SELECT payments.current_org_id() AS current_org_id))) WITH CHECK ((org_id = ( SELECT payments.current_org_id() AS current_org_id)));

--
-- Name: transfer_requests; Type: ROW SECURITY; Schema: payments; Owner: -
--

ALTER TABLE payments.transfer_requests ENABLE ROW LEVEL SECURITY;

--
-- Name: transfer_reversal_requests; Type: ROW SECURITY; Schema: payments; Owner: -
--

ALTER TABLE payments.transfer_reversal_requests ENABLE ROW LEVEL SECURITY;

--
-- Name: events; Type: ROW SECURITY; Schema: ticketing; Owner: -
--

ALTER TABLE ticketing.events ENABLE ROW LEVEL SECURITY;

--
-- Name: orders; Type: ROW SECURITY; Schema: ticketing; Owner: -
--

ALTER TABLE ticketing.orders ENABLE ROW LEVEL SECURITY;

--
-- Name: events platform; Type: POLICY; Schema: ticketing; Owner: -
--

CREATE POLICY platform ON ticketing.events TO liventix_platform USING (( SELECT payments.acting_as_platform() AS acting_as_platform)) WITH CHECK (( SELECT payments.acting_as_platform() AS acting_as_platform));

--
-- Name: orders platform; Type: POLICY; Schema: ticketing; Owner: -
--

CREATE POLICY platform ON ticketing.orders TO liventix_platform USING (( SELECT payments.acting_as_platform() AS acting_as_platform)) WITH CHECK (( SELECT payments.acting_as_platform() AS acting_as_platform));

--
-- Name: refunds platform; Type: POLICY; Schema: ticketing; Owner: -
--

CREATE POLICY platform ON ticketing.refunds TO liventix_platform USING (( SELECT payments.acting_as_platform() AS acting_as_platform)) WITH CHECK (( SELECT payments.acting_as_platform() AS acting_as_platform));

--
-- Name: ticket_types platform; Type: POLICY; Schema: ticketing; Owner: -
--

CREATE POLICY platform ON ticketing.ticket_types TO liventix_platform USING (( SELECT payments.acting_as_platform() AS acting_as_platform)) WITH CHECK (( SELECT payments.acting_as_platform() AS acting_as_platform));

--
-- Name: tickets platform; Type: POLICY; Schema: ticketing; Owner: -
--

CREATE POLICY platform ON ticketing.tickets TO liventix_platform USING (( SELECT payments.acting_as_platform() AS acting_as_platform)) WITH CHECK (( SELECT payments.acting_as_platform() AS acting_as_platform));

--
-- Name: transitions platform; Type: POLICY; Schema: ticketing; Owner: -
--

CREATE POLICY platform ON ticketing.transitions TO liventix_platform USING (( SELECT payments.acting_as_platform() AS acting_as_platform)) WITH CHECK (( SELECT payments.acting_as_platform() AS acting_as_platform));

--
-- Name: refunds; Type: ROW SECURITY; Schema: ticketing; Owner: -
--

ALTER TABLE ticketing.refunds ENABLE ROW LEVEL SECURITY;

--
-- Name: events tenant; Type: POLICY; Schema: ticketing; Owner: -
--

CREATE POLICY tenant ON ticketing.events TO liventix_app USING ((org_id = ( SELECT ticketing.current_org_id() AS current_org_id))) WITH CHECK ((org_id = ( SELECT ticketing.current_org_id() AS current_org_id)));

--
-- Name: orders tenant; Type: POLICY; Schema: ticketing; Owner: -
--

CREATE POLICY tenant ON ticketing.orders TO liventix_app USING ((org_id = ( SELECT ticketing.current_org_id() AS current_org_id))) WITH CHECK ((org_id = ( SELECT ticketing.current_org_id() AS current_org_id)));

--
-- Name: refunds tenant; Type: POLICY; Schema: ticketing; Owner: -
--

CREATE POLICY tenant ON ticketing.refunds TO liventix_app USING ((org_id = ( SELECT ticketing.current_org_id() AS current_org_id))) WITH CHECK ((org_id = ( SELECT ticketing.current_org_id() AS current_org_id)));

--
-- Name: ticket_types tenant; Type: POLICY; Schema: ticketing; Owner: -
--

CREATE POLICY tenant ON ticketing.ticket_types TO liventix_app USING ((org_id = ( SELECT ticketing.current_org_id() AS current_org_id))) WITH CHECK ((org_id = ( SELECT ticketing.current_org_id() AS current_org_id)));

--
-- Name: tickets tenant; Type: POLICY; Schema: ticketing; Owner: -
--

CREATE POLICY tenant ON ticketing.tickets TO liventix_app USING ((org_id = ( SELECT ticketing.current_org_id() AS current_org_id))) WITH CHECK ((org_id = ( SELECT ticketing.current_org_id() AS current_org_id)));

--
-- Name: transitions tenant; Type: POLICY; Schema: ticketing; Owner: -
--

CREATE POLICY tenant ON ticketing.transitions TO liventix_app USING ((org_id = ( SELECT ticketing.current_org_id() AS current_org_id))) WITH CHECK ((org_id = ( SELECT ticketing.current_org_id() AS current_org_id)));

--
-- Name: ticket_types; Type: ROW SECURITY; Schema: ticketing; Owner: -
--

ALTER TABLE ticketing.ticket_types ENABLE ROW LEVEL SECURITY;

--
-- Name: tickets; Type: ROW SECURITY; Schema: ticketing; Owner: -
--

ALTER TABLE ticketing.tickets ENABLE ROW LEVEL SECURITY;

--
-- Name: transitions; Type: ROW SECURITY; Schema: ticketing; Owner: -
--

ALTER TABLE ticketing.transitions ENABLE ROW LEVEL SECURITY;

--
-- Name: SCHEMA messaging; Type: ACL; Schema: -; Owner: -
--

GRANT USAGE ON SCHEMA messaging TO liventix_app;
GRANT USAGE ON SCHEMA messaging TO liventix_platform;

--
-- Name: SCHEMA payments; Type: ACL; Schema: -; Owner: -
--

GRANT USAGE ON SCHEMA payments TO liventix_app;
GRANT USAGE ON SCHEMA payments TO liventix_platform;

--
-- Name: SCHEMA ticketing; Type: ACL; Schema: -; Owner: -
--

GRANT USAGE ON SCHEMA ticketing TO liventix_app;
GRANT USAGE ON SCHEMA ticketing TO liventix_platform;

--
-- Name: FUNCTION _delivery_rows(p_org uuid, p_ids uuid[], p_orgs uuid[], p_types text[], p_aggregate_types text[], p_aggregate_ids text[], p_tasks boolean[], p_mail_of bigint[], p_mail_to text[], p_mail_subject text[], p_mail_body text[], p_keep uuid[]); Type: ACL; Schema: messaging; Owner: -
--

REVOKE ALL ON FUNCTION messaging._delivery_rows(p_org uuid, p_ids uuid[], p_orgs uuid[], p_types text[], p_aggregate_types text[], p_aggregate_ids text[], p_tasks boolean[], p_mail_of bigint[], p_mail_to text[], p_mail_subject text[], p_mail_body text[], p_keep uuid[]) FROM PUBLIC;
GRANT ALL ON FUNCTION messaging._delivery_rows(p_org uuid, p_ids uuid[], p_orgs uuid[], p_types text[], p_aggregate_types text[], p_aggregate_ids text[], p_tasks boolean[], p_mail_of bigint[], p_mail_to text[], p_mail_subject text[], p_mail_body text[], p_keep uuid[]) TO liventix_app;
GRANT ALL ON FUNCTION messaging._delivery_rows(p_org uuid, p_ids uuid[], p_orgs uuid[], p_types text[], p_aggregate_types text[], p_aggregate_ids text[], p_tasks boolean[], p_mail_of bigint[], p_mail_to text[], p_mail_subject text[], p_mail_body text[], p_keep uuid[]) TO liventix_platform;

--
-- Name: FUNCTION backlog(); Type: ACL; Schema: messaging; Owner: -
--

REVOKE ALL ON FUNCTION messaging.backlog() FROM PUBLIC;
GRANT ALL ON FUNCTION messaging.backlog() TO liventix_app;
GRANT ALL ON FUNCTION messaging.backlog() TO liventix_platform;

--
-- Name: FUNCTION current_org_id(); Type: ACL; Schema: messaging; Owner: -
--

GRANT ALL ON FUNCTION messaging.current_org_id() TO liventix_app;
GRANT ALL ON FUNCTION messaging.current_org_id() TO liventix_platform;

--
-- Name: FUNCTION deliveries_guard(); Type: ACL; Schema: messaging; Owner: -
--

REVOKE ALL ON FUNCTION messaging.deliveries_guard() FROM PUBLIC;

--
-- Name: FUNCTION deliveries_references(); Type: ACL; Schema: messaging; Owner: -
--

REVOKE ALL ON FUNCTION messaging.deliveries_references() FROM PUBLIC;

--
-- Name: FUNCTION deliveries_shape(); Type: ACL; Schema: messaging; Owner: -
--

REVOKE ALL ON FUNCTION messaging.deliveries_shape() FROM PUBLIC;

--
-- Name: FUNCTION filter_only(p_value uuid); Type: ACL; Schema: messaging; Owner: -
--

REVOKE ALL ON FUNCTION messaging.filter_only(p_value uuid) FROM PUBLIC;

--
-- Name: FUNCTION inbox_org(p_payload jsonb); Type: ACL; Schema: messaging; Owner: -
--

REVOKE ALL ON FUNCTION messaging.inbox_org(p_payload jsonb) FROM PUBLIC;

--
-- Name: FUNCTION inbox_place(); Type: ACL; Schema: messaging; Owner: -
--

REVOKE ALL ON FUNCTION messaging.inbox_place() FROM PUBLIC;

--
-- Name: FUNCTION messages_cascade(); Type: ACL; Schema: messaging; Owner: -
--

REVOKE ALL ON FUNCTION messaging.messages_cascade() FROM PUBLIC;

--
-- Name: FUNCTION publish(p_org uuid, p_type text, p_aggregate_type text, p_aggregate_id text, p_payload jsonb, p_dedup_key text); Type: ACL; Schema: messaging; Owner: -
--

REVOKE ALL ON FUNCTION messaging.publish(p_org uuid, p_type text, p_aggregate_type text, p_aggregate_id text, p_payload jsonb, p_dedup_key text) FROM PUBLIC;

--
-- Name: FUNCTION publish_many(p_org uuid, p_ids uuid[], p_orgs uuid[], p_types text[], p_aggregate_types text[], p_aggregate_ids text[], p_payloads jsonb[], p_dedups text[], p_tasks boolean[], p_mail_of bigint[], p_mail_to text[], p_mail_subject text[], p_mail_body text[]); Type: ACL; Schema: messaging; Owner: -
--

REVOKE ALL ON FUNCTION messaging.publish_many(p_org uuid, p_ids uuid[], p_orgs uuid[], p_types text[], p_aggregate_types text[], p_aggregate_ids text[], p_payloads jsonb[], p_dedups text[], p_tasks boolean[], p_mail_of bigint[], p_mail_to text[], p_mail_subject text[], p_mail_body text[]) FROM PUBLIC;
GRANT ALL ON FUNCTION messaging.publish_many(p_org uuid, p_ids uuid[], p_orgs uuid[], p_types text[], p_aggregate_types text[], p_aggregate_ids text[], p_payloads jsonb[], p_dedups text[], p_tasks boolean[], p_mail_of bigint[], p_mail_to text[], p_mail_subject text[], p_mail_body text[]) TO liventix_app;
GRANT ALL ON FUNCTION messaging.publish_many(p_org uuid, p_ids uuid[], p_orgs uuid[], p_types text[], p_aggregate_types text[], p_aggregate_ids text[], p_payloads jsonb[], p_dedups text[], p_tasks boolean[], p_mail_of bigint[], p_mail_to text[], p_mail_subject text[], p_mail_body text[]) TO liventix_platform;

--
-- Name: FUNCTION receive_signed_event(p_source text, p_body text, p_signature text); Type: ACL; Schema: messaging; Owner: -
--

REVOKE ALL ON FUNCTION messaging.receive_signed_event(p_source text, p_body text, p_signature text) FROM PUBLIC;
GRANT ALL ON FUNCTION messaging.receive_signed_event(p_source text, p_body text, p_signature text) TO liventix_app;
GRANT ALL ON FUNCTION messaging.receive_signed_event(p_source text, p_body text, p_signature text) TO liventix_platform;

--
-- Name: FUNCTION refuse_shape(p_rule text); Type: ACL; Schema: messaging; Owner: -
--

REVOKE ALL ON FUNCTION messaging.refuse_shape(p_rule text) FROM PUBLIC;

--
-- Name: FUNCTION set_inbox_secret(p_source text, p_secret text, p_tolerance_s integer); Type: ACL; Schema: messaging; Owner: -
--

REVOKE ALL ON FUNCTION messaging.set_inbox_secret(p_source text, p_secret text, p_tolerance_s integer) FROM PUBLIC;

--
-- Name: FUNCTION _act_as(p_actor text); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments._act_as(p_actor text) FROM PUBLIC;

--
-- Name: FUNCTION _actor_proof(p_actor text); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments._actor_proof(p_actor text) FROM PUBLIC;

--
-- Name: FUNCTION _change_members(p_org uuid, p jsonb, p_add boolean); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments._change_members(p_org uuid, p jsonb, p_add boolean) FROM PUBLIC;

--
-- Name: FUNCTION _check_org(p_org uuid); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments._check_org(p_org uuid) FROM PUBLIC;

--
-- Name: FUNCTION _check_platform(); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments._check_platform() FROM PUBLIC;

--
-- Name: FUNCTION _check_positions(p_entries jsonb, p_run payments._run[]); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments._check_positions(p_entries jsonb, p_run payments._run[]) FROM PUBLIC;

--
-- Name: FUNCTION _check_violation(p_table text, p_constraint text); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments._check_violation(p_table text, p_constraint text) FROM PUBLIC;

--
-- Name: TABLE checkpoints; Type: ACL; Schema: payments; Owner: -
--

GRANT SELECT ON TABLE payments.checkpoints TO liventix_app;
GRANT SELECT ON TABLE payments.checkpoints TO liventix_platform;

--
-- Name: FUNCTION _close_account(p_org uuid, p jsonb); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments._close_account(p_org uuid, p jsonb) FROM PUBLIC;

--
-- Name: FUNCTION _closed_high_volume(p_org uuid, p_ids uuid[]); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments._closed_high_volume(p_org uuid, p_ids uuid[]) FROM PUBLIC;

--
-- Name: FUNCTION _create_category(p_org uuid, p jsonb); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments._create_category(p_org uuid, p jsonb) FROM PUBLIC;

--
-- Name: FUNCTION _create_hold(p_org uuid, p jsonb); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments._create_hold(p_org uuid, p jsonb) FROM PUBLIC;

--
-- Name: TABLE fx_rates; Type: ACL; Schema: payments; Owner: -
--

GRANT SELECT ON TABLE payments.fx_rates TO liventix_app;
GRANT SELECT ON TABLE payments.fx_rates TO liventix_platform;

--
-- Name: FUNCTION _current_fx_rate(p_source text, p_target text); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments._current_fx_rate(p_source text, p_target text) FROM PUBLIC;

--
-- Name: FUNCTION _engine_unchecked(); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments._engine_unchecked() FROM PUBLIC;

--
-- Name: FUNCTION _fail(p_code text, p_details jsonb); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments._fail(p_code text, p_details jsonb) FROM PUBLIC;

--
-- Name: FUNCTION _high_volume_row_takes(p_currency text, p_closed boolean, p_large_unrolled boolean, p_posted_debits bigint, p_posted_credits bigint, p_entry_currency text); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments._high_volume_row_takes(p_currency text, p_closed boolean, p_large_unrolled boolean, p_posted_debits bigint, p_posted_credits bigint, p_entry_currency text) FROM PUBLIC;

--
-- Name: TABLE hold_resolutions; Type: ACL; Schema: payments; Owner: -
--

GRANT SELECT ON TABLE payments.hold_resolutions TO liventix_app;
GRANT SELECT ON TABLE payments.hold_resolutions TO liventix_platform;

--
-- Name: TABLE holds; Type: ACL; Schema: payments; Owner: -
--

GRANT SELECT ON TABLE payments.holds TO liventix_app;
GRANT SELECT ON TABLE payments.holds TO liventix_platform;

--
-- Name: FUNCTION _hold_event(h payments.holds, p_status text, r payments.hold_resolutions); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments._hold_event(h payments.holds, p_status text, r payments.hold_resolutions) FROM PUBLIC;

--
-- Name: FUNCTION _line_difference(p_ids bigint[], p_hashes bytea[], p_now_ids bigint[], p_now_hashes bytea[]); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments._line_difference(p_ids bigint[], p_hashes bytea[], p_now_ids bigint[], p_now_hashes bytea[]) FROM PUBLIC;

--
-- Name: FUNCTION _lock_accounts(p_org uuid, p_ids uuid[], p_lock_high_volume boolean, p_large uuid[]); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments._lock_accounts(p_org uuid, p_ids uuid[], p_lock_high_volume boolean, p_large uuid[]) FROM PUBLIC;

--
-- Name: FUNCTION _mark_monitored(p_account uuid); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments._mark_monitored(p_account uuid) FROM PUBLIC;

--
-- Name: FUNCTION _missing_reference(p_table text, p_constraint text, p_key text); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments._missing_reference(p_table text, p_constraint text, p_key text) FROM PUBLIC;

--
-- Name: FUNCTION _monitor_holds(p_operator text, p_balance numeric, p_value bigint); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments._monitor_holds(p_operator text, p_balance numeric, p_value bigint) FROM PUBLIC;

--
-- Name: TABLE balance_monitors; Type: ACL; Schema: payments; Owner: -
--

GRANT SELECT ON TABLE payments.balance_monitors TO liventix_app;
GRANT SELECT ON TABLE payments.balance_monitors TO liventix_platform;

--
-- Name: FUNCTION _monitor_view(m payments.balance_monitors, p_current numeric, p_version bigint); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments._monitor_view(m payments.balance_monitors, p_current numeric, p_version bigint) FROM PUBLIC;

--
-- Name: TABLE accounts; Type: ACL; Schema: payments; Owner: -
--

GRANT SELECT ON TABLE payments.accounts TO liventix_app;
GRANT SELECT ON TABLE payments.accounts TO liventix_platform;

--
-- Name: FUNCTION _monitored_balance(a payments.accounts, p_balance text); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments._monitored_balance(a payments.accounts, p_balance text) FROM PUBLIC;

--
-- Name: FUNCTION _open_account(p_org uuid, p jsonb); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments._open_account(p_org uuid, p jsonb) FROM PUBLIC;

--
-- Name: FUNCTION _open_hold(p_org uuid, p_hold uuid); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments._open_hold(p_org uuid, p_hold uuid) FROM PUBLIC;

--
-- Name: FUNCTION _post(p_org uuid, p_entries jsonb); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments._post(p_org uuid, p_entries jsonb) FROM PUBLIC;

--
-- Name: FUNCTION _post_hold(p_org uuid, p jsonb); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments._post_hold(p_org uuid, p jsonb) FROM PUBLIC;

--
-- Name: FUNCTION _publish_hold_created(); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments._publish_hold_created() FROM PUBLIC;

--
-- Name: FUNCTION _publish_hold_resolved(); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments._publish_hold_resolved() FROM PUBLIC;

--
-- Name: FUNCTION _regular_row_takes(p_currency text, p_closed boolean, p_posted_debits bigint, p_posted_credits bigint, p_pending_debits bigint, p_pending_credits bigint, p_debits_limited boolean, p_credits_limited boolean, p_entry_currency text, p_debits numeric, p_credits numeric); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments._regular_row_takes(p_currency text, p_closed boolean, p_posted_debits bigint, p_posted_credits bigint, p_pending_debits bigint, p_pending_credits bigint, p_debits_limited boolean, p_credits_limited boolean, p_entry_currency text, p_debits numeric, p_credits numeric) FROM PUBLIC;

--
-- Name: FUNCTION _release_pending(p_hold payments.holds); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments._release_pending(p_hold payments.holds) FROM PUBLIC;

--
-- Name: FUNCTION _seal_cut(); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments._seal_cut() FROM PUBLIC;

--
-- Name: FUNCTION _utc_text(p timestamp with time zone); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments._utc_text(p timestamp with time zone) FROM PUBLIC;

--
-- Name: FUNCTION _void_hold(p_org uuid, p jsonb); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments._void_hold(p_org uuid, p jsonb) FROM PUBLIC;

--
-- Name: FUNCTION _watch_balance(); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments._watch_balance() FROM PUBLIC;

--
-- Name: FUNCTION _writer_off(); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments._writer_off() FROM PUBLIC;

--
-- Name: FUNCTION act_for(p_org uuid); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments.act_for(p_org uuid) FROM PUBLIC;

--
-- Name: FUNCTION acting_as_platform(); Type: ACL; Schema: payments; Owner: -
--

GRANT ALL ON FUNCTION payments.acting_as_platform() TO liventix_app;
GRANT ALL ON FUNCTION payments.acting_as_platform() TO liventix_platform;

--
-- Name: FUNCTION assert_entry_balanced(p_entry uuid); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments.assert_entry_balanced(p_entry uuid) FROM PUBLIC;

--
-- Name: FUNCTION authenticate(p_prefix text, p_secret text, p_idempotency_key text); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments.authenticate(p_prefix text, p_secret text, p_idempotency_key text) FROM PUBLIC;
GRANT ALL ON FUNCTION payments.authenticate(p_prefix text, p_secret text, p_idempotency_key text) TO liventix_app;
GRANT ALL ON FUNCTION payments.authenticate(p_prefix text, p_secret text, p_idempotency_key text) TO liventix_platform;

--
-- Name: FUNCTION balance_as_of(p_account uuid, p_at timestamp with time zone, p_effective boolean); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments.balance_as_of(p_account uuid, p_at timestamp with time zone, p_effective boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION payments.balance_as_of(p_account uuid, p_at timestamp with time zone, p_effective boolean) TO liventix_app;
GRANT ALL ON FUNCTION payments.balance_as_of(p_account uuid, p_at timestamp with time zone, p_effective boolean) TO liventix_platform;

--
-- Name: FUNCTION capture_card_payment(p_org uuid, p_event text, p_currency text, p_states text[], p_bps integer, p_fixed bigint, p_bears boolean, p_refund_fee boolean, p_policy_stored boolean, p_payment text, p_charge text, p_txn text, p_gross bigint, p_fee bigint, p_stripe_fee bigint, p_share bigint, p_cause text, p_key text, p_hash text, p_accounts uuid[], p_sides text[], p_amounts bigint[], p_currencies text[], p_description text, p_external_ref text, p_organizer_accounts uuid[], p_platform_accounts uuid[]); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments.capture_card_payment(p_org uuid, p_event text, p_currency text, p_states text[], p_bps integer, p_fixed bigint, p_bears boolean, p_refund_fee boolean, p_policy_stored boolean, p_payment text, p_charge text, p_txn text, p_gross bigint, p_fee bigint, p_stripe_fee bigint, p_share bigint, p_cause text, p_key text, p_hash text, p_accounts uuid[], p_sides text[], p_amounts bigint[], p_currencies text[], p_description text, p_external_ref text, p_organizer_accounts uuid[], p_platform_accounts uuid[]) FROM PUBLIC;
GRANT ALL ON FUNCTION payments.capture_card_payment(p_org uuid, p_event text, p_currency text, p_states text[], p_bps integer, p_fixed bigint, p_bears boolean, p_refund_fee boolean, p_policy_stored boolean, p_payment text, p_charge text, p_txn text, p_gross bigint, p_fee bigint, p_stripe_fee bigint, p_share bigint, p_cause text, p_key text, p_hash text, p_accounts uuid[], p_sides text[], p_amounts bigint[], p_currencies text[], p_description text, p_external_ref text, p_organizer_accounts uuid[], p_platform_accounts uuid[]) TO liventix_platform;

--
-- Name: FUNCTION category_write(p jsonb); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments.category_write(p jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION payments.category_write(p jsonb) TO liventix_app;
GRANT ALL ON FUNCTION payments.category_write(p jsonb) TO liventix_platform;

--
-- Name: FUNCTION check_account_rules(); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments.check_account_rules() FROM PUBLIC;

--
-- Name: FUNCTION check_category_cycle(); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments.check_category_cycle() FROM PUBLIC;

--
-- Name: FUNCTION check_conversion(); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments.check_conversion() FROM PUBLIC;

--
-- Name: FUNCTION check_entry_references(); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments.check_entry_references() FROM PUBLIC;

--
-- Name: FUNCTION check_new_entry(); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments.check_new_entry() FROM PUBLIC;

--
-- Name: FUNCTION check_new_key(); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments.check_new_key() FROM PUBLIC;

--
-- Name: FUNCTION check_new_line(); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments.check_new_line() FROM PUBLIC;

--
-- Name: FUNCTION check_queued_entry(); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments.check_queued_entry() FROM PUBLIC;

--
-- Name: FUNCTION check_settlement_links(); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments.check_settlement_links() FROM PUBLIC;

--
-- Name: FUNCTION convert(p jsonb); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments.convert(p jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION payments.convert(p jsonb) TO liventix_app;
GRANT ALL ON FUNCTION payments.convert(p jsonb) TO liventix_platform;

--
-- Name: FUNCTION create_balance_monitor(p_org uuid, p jsonb); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments.create_balance_monitor(p_org uuid, p jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION payments.create_balance_monitor(p_org uuid, p jsonb) TO liventix_app;
GRANT ALL ON FUNCTION payments.create_balance_monitor(p_org uuid, p jsonb) TO liventix_platform;

--
-- Name: FUNCTION create_settlement(p jsonb); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments.create_settlement(p jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION payments.create_settlement(p jsonb) TO liventix_app;
GRANT ALL ON FUNCTION payments.create_settlement(p jsonb) TO liventix_platform;

--
-- Name: FUNCTION current_actor(); Type: ACL; Schema: payments; Owner: -
--

GRANT ALL ON FUNCTION payments.current_actor() TO liventix_app;
GRANT ALL ON FUNCTION payments.current_actor() TO liventix_platform;

--
-- Name: FUNCTION current_org_id(); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments.current_org_id() FROM PUBLIC;
GRANT ALL ON FUNCTION payments.current_org_id() TO liventix_app;
GRANT ALL ON FUNCTION payments.current_org_id() TO liventix_platform;

--
-- Name: FUNCTION delete_balance_monitor(p_org uuid, p_id uuid); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments.delete_balance_monitor(p_org uuid, p_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION payments.delete_balance_monitor(p_org uuid, p_id uuid) TO liventix_app;
GRANT ALL ON FUNCTION payments.delete_balance_monitor(p_org uuid, p_id uuid) TO liventix_platform;

--
-- Name: TABLE entries; Type: ACL; Schema: payments; Owner: -
--

GRANT SELECT ON TABLE payments.entries TO liventix_app;
GRANT SELECT ON TABLE payments.entries TO liventix_platform;

--
-- Name: FUNCTION expire_holds(p_limit integer); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments.expire_holds(p_limit integer) FROM PUBLIC;
GRANT ALL ON FUNCTION payments.expire_holds(p_limit integer) TO liventix_platform;

--
-- Name: FUNCTION fx_liquidity_accounts(p_currencies text[]); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments.fx_liquidity_accounts(p_currencies text[]) FROM PUBLIC;
GRANT ALL ON FUNCTION payments.fx_liquidity_accounts(p_currencies text[]) TO liventix_app;
GRANT ALL ON FUNCTION payments.fx_liquidity_accounts(p_currencies text[]) TO liventix_platform;

--
-- Name: FUNCTION fx_rates_append_only(); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments.fx_rates_append_only() FROM PUBLIC;

--
-- Name: FUNCTION guard_account_update(); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments.guard_account_update() FROM PUBLIC;

--
-- Name: FUNCTION guard_line_update(); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments.guard_line_update() FROM PUBLIC;

--
-- Name: FUNCTION ledger_write(p jsonb); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments.ledger_write(p jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION payments.ledger_write(p jsonb) TO liventix_app;
GRANT ALL ON FUNCTION payments.ledger_write(p jsonb) TO liventix_platform;

--
-- Name: TABLE lines; Type: ACL; Schema: payments; Owner: -
--

GRANT SELECT ON TABLE payments.lines TO liventix_app;
GRANT SELECT ON TABLE payments.lines TO liventix_platform;

--
-- Name: FUNCTION list_hold_expiry(); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments.list_hold_expiry() FROM PUBLIC;

--
-- Name: FUNCTION post_batch(p jsonb); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments.post_batch(p jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION payments.post_batch(p jsonb) TO liventix_app;
GRANT ALL ON FUNCTION payments.post_batch(p jsonb) TO liventix_platform;

--
-- Name: FUNCTION post_batch_fast(p_org uuid, p_keys text[], p_hashes text[], p_descriptions text[], p_metadata jsonb[], p_effective_at timestamp with time zone[], p_external_refs text[], p_entry_of integer[], p_accounts uuid[], p_sides text[], p_amounts bigint[], p_currencies text[]); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments.post_batch_fast(p_org uuid, p_keys text[], p_hashes text[], p_descriptions text[], p_metadata jsonb[], p_effective_at timestamp with time zone[], p_external_refs text[], p_entry_of integer[], p_accounts uuid[], p_sides text[], p_amounts bigint[], p_currencies text[]) FROM PUBLIC;
GRANT ALL ON FUNCTION payments.post_batch_fast(p_org uuid, p_keys text[], p_hashes text[], p_descriptions text[], p_metadata jsonb[], p_effective_at timestamp with time zone[], p_external_refs text[], p_entry_of integer[], p_accounts uuid[], p_sides text[], p_amounts bigint[], p_currencies text[]) TO liventix_app;
GRANT ALL ON FUNCTION payments.post_batch_fast(p_org uuid, p_keys text[], p_hashes text[], p_descriptions text[], p_metadata jsonb[], p_effective_at timestamp with time zone[], p_external_refs text[], p_entry_of integer[], p_accounts uuid[], p_sides text[], p_amounts bigint[], p_currencies text[]) TO liventix_platform;

--
-- Name: FUNCTION post_capture_entry(p_org uuid, p_key text, p_hash text, p_accounts uuid[], p_sides text[], p_amounts bigint[], p_currencies text[], p_description text, p_external_ref text, p_regular uuid, p_high_volume uuid[]); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments.post_capture_entry(p_org uuid, p_key text, p_hash text, p_accounts uuid[], p_sides text[], p_amounts bigint[], p_currencies text[], p_description text, p_external_ref text, p_regular uuid, p_high_volume uuid[]) FROM PUBLIC;
GRANT ALL ON FUNCTION payments.post_capture_entry(p_org uuid, p_key text, p_hash text, p_accounts uuid[], p_sides text[], p_amounts bigint[], p_currencies text[], p_description text, p_external_ref text, p_regular uuid, p_high_volume uuid[]) TO liventix_platform;

--
-- Name: FUNCTION post_entry(p_org uuid, p_key text, p_hash text, p_accounts uuid[], p_sides text[], p_amounts bigint[], p_currencies text[], p_description text, p_metadata jsonb, p_effective_at timestamp with time zone, p_external_ref text, OUT status text, OUT id uuid, OUT replayed boolean, OUT code text, OUT details jsonb); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments.post_entry(p_org uuid, p_key text, p_hash text, p_accounts uuid[], p_sides text[], p_amounts bigint[], p_currencies text[], p_description text, p_metadata jsonb, p_effective_at timestamp with time zone, p_external_ref text, OUT status text, OUT id uuid, OUT replayed boolean, OUT code text, OUT details jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION payments.post_entry(p_org uuid, p_key text, p_hash text, p_accounts uuid[], p_sides text[], p_amounts bigint[], p_currencies text[], p_description text, p_metadata jsonb, p_effective_at timestamp with time zone, p_external_ref text, OUT status text, OUT id uuid, OUT replayed boolean, OUT code text, OUT details jsonb) TO liventix_app;
GRANT ALL ON FUNCTION payments.post_entry(p_org uuid, p_key text, p_hash text, p_accounts uuid[], p_sides text[], p_amounts bigint[], p_currencies text[], p_description text, p_metadata jsonb, p_effective_at timestamp with time zone, p_external_ref text, OUT status text, OUT id uuid, OUT replayed boolean, OUT code text, OUT details jsonb) TO liventix_platform;

--
-- Name: FUNCTION recorded_error_codes(); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments.recorded_error_codes() FROM PUBLIC;
GRANT ALL ON FUNCTION payments.recorded_error_codes() TO liventix_app;
GRANT ALL ON FUNCTION payments.recorded_error_codes() TO liventix_platform;

--
-- Name: FUNCTION refuse_change(); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments.refuse_change() FROM PUBLIC;

--
-- Name: FUNCTION roll_up(p_account uuid, p_limit integer); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments.roll_up(p_account uuid, p_limit integer) FROM PUBLIC;
GRANT ALL ON FUNCTION payments.roll_up(p_account uuid, p_limit integer) TO liventix_platform;

--
-- Name: FUNCTION roll_up_all(p_limit integer); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments.roll_up_all(p_limit integer) FROM PUBLIC;
GRANT ALL ON FUNCTION payments.roll_up_all(p_limit integer) TO liventix_platform;

--
-- Name: FUNCTION seal(p_limit integer, p_min_interval interval); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments.seal(p_limit integer, p_min_interval interval) FROM PUBLIC;
GRANT ALL ON FUNCTION payments.seal(p_limit integer, p_min_interval interval) TO liventix_platform;

--
-- Name: FUNCTION seal_counts(p_org uuid); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments.seal_counts(p_org uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION payments.seal_counts(p_org uuid) TO liventix_app;
GRANT ALL ON FUNCTION payments.seal_counts(p_org uuid) TO liventix_platform;

--
-- Name: FUNCTION set_fx_rate(p jsonb); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments.set_fx_rate(p jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION payments.set_fx_rate(p jsonb) TO liventix_platform;

--
-- Name: FUNCTION touch_api_key(p_prefix text, p_secret text); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments.touch_api_key(p_prefix text, p_secret text) FROM PUBLIC;
GRANT ALL ON FUNCTION payments.touch_api_key(p_prefix text, p_secret text) TO liventix_app;
GRANT ALL ON FUNCTION payments.touch_api_key(p_prefix text, p_secret text) TO liventix_platform;

--
-- Name: FUNCTION verify_seals(p_org uuid, p_limit integer); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments.verify_seals(p_org uuid, p_limit integer) FROM PUBLIC;
GRANT ALL ON FUNCTION payments.verify_seals(p_org uuid, p_limit integer) TO liventix_app;
GRANT ALL ON FUNCTION payments.verify_seals(p_org uuid, p_limit integer) TO liventix_platform;

--
-- Name: FUNCTION wal_receiver(); Type: ACL; Schema: payments; Owner: -
--

REVOKE ALL ON FUNCTION payments.wal_receiver() FROM PUBLIC;
GRANT ALL ON FUNCTION payments.wal_receiver() TO liventix_app;
GRANT ALL ON FUNCTION payments.wal_receiver() TO liventix_platform;

--
-- Name: FUNCTION current_org_id(); Type: ACL; Schema: ticketing; Owner: -
--

GRANT ALL ON FUNCTION ticketing.current_org_id() TO liventix_app;
GRANT ALL ON FUNCTION ticketing.current_org_id() TO liventix_platform;

--
-- Name: FUNCTION filter_only(p_value uuid); Type: ACL; Schema: ticketing; Owner: -
--

REVOKE ALL ON FUNCTION ticketing.filter_only(p_value uuid) FROM PUBLIC;

--
-- Name: FUNCTION refuse_named_removal(); Type: ACL; Schema: ticketing; Owner: -
--

REVOKE ALL ON FUNCTION ticketing.refuse_named_removal() FROM PUBLIC;

--
-- Name: FUNCTION tickets_references(); Type: ACL; Schema: ticketing; Owner: -
--

REVOKE ALL ON FUNCTION ticketing.tickets_references() FROM PUBLIC;

--
-- Name: TABLE attempts; Type: ACL; Schema: messaging; Owner: -
--

GRANT SELECT,INSERT ON TABLE messaging.attempts TO liventix_app;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE messaging.attempts TO liventix_platform;

--
-- Name: TABLE deliveries; Type: ACL; Schema: messaging; Owner: -
--

GRANT SELECT,INSERT ON TABLE messaging.deliveries TO liventix_app;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE messaging.deliveries TO liventix_platform;

--
-- Name: COLUMN deliveries.status; Type: ACL; Schema: messaging; Owner: -
--

GRANT UPDATE(status) ON TABLE messaging.deliveries TO liventix_app;

--
-- Name: COLUMN deliveries.attempts; Type: ACL; Schema: messaging; Owner: -
--

GRANT UPDATE(attempts) ON TABLE messaging.deliveries TO liventix_app;

--
-- Name: COLUMN deliveries.next_attempt_at; Type: ACL; Schema: messaging; Owner: -
--

GRANT UPDATE(next_attempt_at) ON TABLE messaging.deliveries TO liventix_app;

--
-- Name: COLUMN deliveries.lease_expires_at; Type: ACL; Schema: messaging; Owner: -
--

GRANT UPDATE(lease_expires_at) ON TABLE messaging.deliveries TO liventix_app;

--
-- Name: COLUMN deliveries.leased_by; Type: ACL; Schema: messaging; Owner: -
--

GRANT UPDATE(leased_by) ON TABLE messaging.deliveries TO liventix_app;

--
-- Name: COLUMN deliveries.finished_at; Type: ACL; Schema: messaging; Owner: -
--

GRANT UPDATE(finished_at) ON TABLE messaging.deliveries TO liventix_app;

--
-- Name: TABLE endpoint_secrets; Type: ACL; Schema: messaging; Owner: -
--

GRANT INSERT ON TABLE messaging.endpoint_secrets TO liventix_app;
GRANT INSERT,DELETE ON TABLE messaging.endpoint_secrets TO liventix_platform;

--
-- Name: COLUMN endpoint_secrets.id; Type: ACL; Schema: messaging; Owner: -
--

GRANT SELECT(id) ON TABLE messaging.endpoint_secrets TO liventix_app;
GRANT SELECT(id) ON TABLE messaging.endpoint_secrets TO liventix_platform;

--
-- Name: COLUMN endpoint_secrets.endpoint_id; Type: ACL; Schema: messaging; Owner: -
--

GRANT SELECT(endpoint_id) ON TABLE messaging.endpoint_secrets TO liventix_app;
GRANT SELECT(endpoint_id) ON TABLE messaging.endpoint_secrets TO liventix_platform;

--
-- Name: COLUMN endpoint_secrets.org_id; Type: ACL; Schema: messaging; Owner: -
--

GRANT SELECT(org_id) ON TABLE messaging.endpoint_secrets TO liventix_app;
GRANT SELECT(org_id) ON TABLE messaging.endpoint_secrets TO liventix_platform;

--
-- Name: COLUMN endpoint_secrets.created_at; Type: ACL; Schema: messaging; Owner: -
--

GRANT SELECT(created_at) ON TABLE messaging.endpoint_secrets TO liventix_app;
GRANT SELECT(created_at) ON TABLE messaging.endpoint_secrets TO liventix_platform;

--
-- Name: COLUMN endpoint_secrets.expires_at; Type: ACL; Schema: messaging; Owner: -
--

GRANT SELECT(expires_at),UPDATE(expires_at) ON TABLE messaging.endpoint_secrets TO liventix_app;
GRANT SELECT(expires_at),UPDATE(expires_at) ON TABLE messaging.endpoint_secrets TO liventix_platform;

--
-- Name: TABLE endpoints; Type: ACL; Schema: messaging; Owner: -
--

GRANT SELECT,INSERT,UPDATE ON TABLE messaging.endpoints TO liventix_app;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE messaging.endpoints TO liventix_platform;

--
-- Name: TABLE inbox; Type: ACL; Schema: messaging; Owner: -
--

GRANT SELECT ON TABLE messaging.inbox TO liventix_app;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE messaging.inbox TO liventix_platform;

--
-- Name: TABLE messages; Type: ACL; Schema: messaging; Owner: -
--

GRANT SELECT,INSERT ON TABLE messaging.messages TO liventix_app;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE messaging.messages TO liventix_platform;

--
-- Name: TABLE account_balances; Type: ACL; Schema: payments; Owner: -
--

GRANT SELECT ON TABLE payments.account_balances TO liventix_app;
GRANT SELECT ON TABLE payments.account_balances TO liventix_platform;

--
-- Name: TABLE account_categories; Type: ACL; Schema: payments; Owner: -
--

GRANT SELECT ON TABLE payments.account_categories TO liventix_app;
GRANT SELECT ON TABLE payments.account_categories TO liventix_platform;

--
-- Name: TABLE api_idempotency; Type: ACL; Schema: payments; Owner: -
--

GRANT SELECT,INSERT ON TABLE payments.api_idempotency TO liventix_app;
GRANT SELECT,INSERT ON TABLE payments.api_idempotency TO liventix_platform;

--
-- Name: TABLE card_disputes; Type: ACL; Schema: payments; Owner: -
--

GRANT SELECT ON TABLE payments.card_disputes TO liventix_app;
GRANT SELECT,INSERT,UPDATE ON TABLE payments.card_disputes TO liventix_platform;

--
-- Name: TABLE card_payments; Type: ACL; Schema: payments; Owner: -
--

GRANT SELECT ON TABLE payments.card_payments TO liventix_app;
GRANT SELECT,INSERT,UPDATE ON TABLE payments.card_payments TO liventix_platform;

--
-- Name: TABLE card_refunds; Type: ACL; Schema: payments; Owner: -
--

GRANT SELECT ON TABLE payments.card_refunds TO liventix_app;
GRANT SELECT,INSERT,UPDATE ON TABLE payments.card_refunds TO liventix_platform;

--
-- Name: TABLE category_members; Type: ACL; Schema: payments; Owner: -
--

GRANT SELECT ON TABLE payments.category_members TO liventix_app;
GRANT SELECT ON TABLE payments.category_members TO liventix_platform;

--
-- Name: TABLE conversions; Type: ACL; Schema: payments; Owner: -
--

GRANT SELECT ON TABLE payments.conversions TO liventix_app;
GRANT SELECT ON TABLE payments.conversions TO liventix_platform;

--
-- Name: TABLE currencies; Type: ACL; Schema: payments; Owner: -
--

GRANT SELECT ON TABLE payments.currencies TO liventix_app;
GRANT SELECT ON TABLE payments.currencies TO liventix_platform;

--
-- Name: TABLE entry_seals; Type: ACL; Schema: payments; Owner: -
--

GRANT SELECT ON TABLE payments.entry_seals TO liventix_app;
GRANT SELECT ON TABLE payments.entry_seals TO liventix_platform;

--
-- Name: TABLE escrow_transitions; Type: ACL; Schema: payments; Owner: -
--

GRANT SELECT ON TABLE payments.escrow_transitions TO liventix_app;
GRANT SELECT,INSERT,UPDATE ON TABLE payments.escrow_transitions TO liventix_platform;

--
-- Name: TABLE escrows; Type: ACL; Schema: payments; Owner: -
--

GRANT SELECT ON TABLE payments.escrows TO liventix_app;
GRANT SELECT,INSERT,UPDATE ON TABLE payments.escrows TO liventix_platform;

--
-- Name: TABLE idempotency_keys; Type: ACL; Schema: payments; Owner: -
--

GRANT SELECT ON TABLE payments.idempotency_keys TO liventix_app;
GRANT SELECT ON TABLE payments.idempotency_keys TO liventix_platform;

--
-- Name: TABLE organizations; Type: ACL; Schema: payments; Owner: -
--

GRANT SELECT ON TABLE payments.organizations TO liventix_app;
GRANT SELECT,INSERT ON TABLE payments.organizations TO liventix_platform;

--
-- Name: TABLE organizer_policies; Type: ACL; Schema: payments; Owner: -
--

GRANT SELECT ON TABLE payments.organizer_policies TO liventix_app;
GRANT SELECT,INSERT,UPDATE ON TABLE payments.organizer_policies TO liventix_platform;

--
-- Name: TABLE organizer_transfers; Type: ACL; Schema: payments; Owner: -
--

GRANT SELECT ON TABLE payments.organizer_transfers TO liventix_app;
GRANT SELECT,INSERT,UPDATE ON TABLE payments.organizer_transfers TO liventix_platform;

--
-- Name: TABLE platform_payouts; Type: ACL; Schema: payments; Owner: -
--

GRANT SELECT,INSERT,UPDATE ON TABLE payments.platform_payouts TO liventix_platform;

--
-- Name: TABLE settlement_entries; Type: ACL; Schema: payments; Owner: -
--

GRANT SELECT ON TABLE payments.settlement_entries TO liventix_app;
GRANT SELECT ON TABLE payments.settlement_entries TO liventix_platform;

--
-- Name: TABLE settlements; Type: ACL; Schema: payments; Owner: -
--

GRANT SELECT ON TABLE payments.settlements TO liventix_app;
GRANT SELECT ON TABLE payments.settlements TO liventix_platform;

--
-- Name: TABLE transfer_requests; Type: ACL; Schema: payments; Owner: -
--

GRANT SELECT ON TABLE payments.transfer_requests TO liventix_app;
GRANT SELECT,INSERT,UPDATE ON TABLE payments.transfer_requests TO liventix_platform;

--
-- Name: TABLE transfer_reversal_requests; Type: ACL; Schema: payments; Owner: -
--

GRANT SELECT ON TABLE payments.transfer_reversal_requests TO liventix_app;
GRANT SELECT,INSERT,UPDATE ON TABLE payments.transfer_reversal_requests TO liventix_platform;

--
-- Name: TABLE alembic_version; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT ON TABLE public.alembic_version TO liventix_platform;

--
-- Name: TABLE events; Type: ACL; Schema: ticketing; Owner: -
--

GRANT SELECT,INSERT,UPDATE ON TABLE ticketing.events TO liventix_app;
GRANT SELECT,INSERT,UPDATE ON TABLE ticketing.events TO liventix_platform;

--
-- Name: TABLE orders; Type: ACL; Schema: ticketing; Owner: -
--

GRANT SELECT,INSERT,UPDATE ON TABLE ticketing.orders TO liventix_app;
GRANT SELECT,INSERT,UPDATE ON TABLE ticketing.orders TO liventix_platform;

--
-- Name: TABLE refunds; Type: ACL; Schema: ticketing; Owner: -
--

GRANT SELECT,INSERT,UPDATE ON TABLE ticketing.refunds TO liventix_app;
GRANT SELECT,INSERT,UPDATE ON TABLE ticketing.refunds TO liventix_platform;

--
-- Name: TABLE ticket_types; Type: ACL; Schema: ticketing; Owner: -
--

GRANT SELECT,INSERT,UPDATE ON TABLE ticketing.ticket_types TO liventix_app;
GRANT SELECT,INSERT,UPDATE ON TABLE ticketing.ticket_types TO liventix_platform;

--
-- Name: TABLE tickets; Type: ACL; Schema: ticketing; Owner: -
--

GRANT SELECT,INSERT,UPDATE ON TABLE ticketing.tickets TO liventix_app;
GRANT SELECT,INSERT,UPDATE ON TABLE ticketing.tickets TO liventix_platform;

--
-- Name: TABLE transitions; Type: ACL; Schema: ticketing; Owner: -
--

GRANT SELECT,INSERT ON TABLE ticketing.transitions TO liventix_app;
GRANT SELECT,INSERT ON TABLE ticketing.transitions TO liventix_platform;

--
-- PostgreSQL database dump complete
--
