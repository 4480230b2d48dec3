-- mailwire's PostgreSQL store, schema version 1.
-- Message bodies are stored once by content (sha256); mailboxes hold references to them.
create table mailwire_users (
    id bigserial primary key,
    login text not null unique,
    -- SASL credentials as stored by mailwire-sasl (a password or SCRAM verifiers), or null.
    credentials bytea,
    addresses text[] not null default '{}',
    quota_storage bigint,
    quota_messages bigint
);
create table mailwire_mailboxes (
    id bigserial primary key,
    user_id bigint not null references mailwire_users on delete cascade,
    name text not null,
    special_use text,
    uidvalidity bigint not null,
    uidnext bigint not null default 1,
    highest_modseq bigint not null default 1,
    -- The oldest modseq the expunge history still covers (RFC 7162 §3.2.5.2).
    history_from bigint not null default 0,
    unique (user_id, name)
);
create table mailwire_subscriptions (
    user_id bigint not null references mailwire_users on delete cascade,
    name text not null,
    primary key (user_id, name)
);
create table mailwire_bodies (
    sha256 bytea primary key,
    size bigint not null,
    data bytea not null,
    -- The MIME index, once made.
    mime bytea
);
create table mailwire_messages (
    mailbox_id bigint not null references mailwire_mailboxes on delete cascade,
    uid bigint not null,
    modseq bigint not null,
    body bytea not null references mailwire_bodies (sha256),
    internal_date bigint not null,
    flags text[] not null default '{}',
    derived bytea,
    primary key (mailbox_id, uid)
);
create index mailwire_messages_modseq on mailwire_messages (mailbox_id, modseq);
create index mailwire_messages_body on mailwire_messages (body);
create table mailwire_expunged (
    mailbox_id bigint not null references mailwire_mailboxes on delete cascade,
    uid bigint not null,
    modseq bigint not null,
    primary key (mailbox_id, uid)
);
