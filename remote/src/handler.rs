//! The russh handler of one connection: public-key and certificate logins decided by
//! [`crate::access`] (every acceptance and refusal logged with the source and the key's
//! fingerprint), everything else refused (password, keyboard-interactive, agent, X11,
//! port and socket forwarding, env, subsystems), and session channels started with what
//! [`crate::session::decide`] says, their input forwarded to the session's task.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use russh::keys::ssh_key::Certificate;
use russh::keys::HashAlg;
use russh::server::{Auth, ChannelOpenHandle, Msg, PublicKeyOffer, Session, VerifiedPublicKey};
use russh::{Channel, ChannelId, ChannelOpenFailure, Disconnect, Pty, Sig};

use crate::access::{self, Grant};
use crate::backoff::Source;
use crate::channel_io::{ChannelIo, Event, InputSender};
use crate::command::printable;
use crate::registry::Conn;
use crate::server::Shared;
use crate::session::{self, Ctx};

/// Session channels one connection may open.
const MAX_CHANNELS: usize = 4;

struct Slot {
    pty: bool,
    input: Option<InputSender>,
}

pub struct ConnHandler {
    shared: Arc<Shared>,
    conn: Arc<Conn>,
    grant: Option<Grant>,
    channels: HashMap<ChannelId, Slot>,
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl ConnHandler {
    pub fn new(shared: Arc<Shared>, conn: Arc<Conn>) -> Self {
        ConnHandler {
            shared,
            conn,
            grant: None,
            channels: HashMap::new(),
        }
    }

    fn peer(&self) -> std::net::SocketAddr {
        self.conn.peer
    }

    fn refuse(&self, what: String) -> Auth {
        self.conn.count_refusal();
        log::warn!("ssh: {}: {what}", self.peer());
        Auth::reject()
    }

    fn accept(&mut self, user: &str, grant: Grant) -> Auth {
        log::info!(
            "ssh: {}: {} logged in with {}{}",
            self.peer(),
            printable(user),
            grant.who,
            match &grant.forced {
                Some(c) => format!(", restricted to `{c}`"),
                None => String::new(),
            }
        );
        self.grant = Some(grant);
        Auth::Accept
    }

    /// Starts what a shell or exec request runs.
    fn start(
        &mut self,
        channel: ChannelId,
        requested: Option<&[u8]>,
        session: &mut Session,
    ) -> Result<(), russh::Error> {
        let (Some(grant), Some(slot)) = (&self.grant, self.channels.get_mut(&channel)) else {
            return session.channel_failure(channel);
        };
        if slot.input.is_some() {
            return session.channel_failure(channel);
        }
        let start = session::decide(requested, grant.forced.as_ref());
        match &start {
            session::Start::Run(cmd) => log::info!(
                "ssh: {} ({}) runs `{}`{}",
                self.conn.peer,
                grant.who,
                session::describe(cmd, &self.shared.view.borrow()),
                if slot.pty { " with a terminal" } else { "" }
            ),
            // The refused text itself stays out of the log: it may be anything typed.
            session::Start::Refuse { code, .. } => log::warn!(
                "ssh: {} ({}): command refused (exit status {code})",
                self.conn.peer,
                grant.who
            ),
        }
        session.channel_success(channel)?;
        let (io, input) = ChannelIo::new(session.handle(), channel, slot.pty, self.conn.clone());
        slot.input = Some(input);
        let ctx = Ctx {
            shared: self.shared.clone(),
            peer: self.conn.peer,
            who: grant.who.clone(),
        };
        self.conn.touch();
        tokio::spawn(session::run(io, ctx, start));
        Ok(())
    }

    fn forward(&mut self, channel: ChannelId, event: Event) {
        if let Some(input) = self.channels.get(&channel).and_then(|s| s.input.as_ref()) {
            input.send(event);
        }
    }

    fn refuse_channel(&self, what: String) {
        log::warn!("ssh: {}: {what} refused", self.peer());
    }

    /// Refuses a channel the client asked to open: logged, and rejected as prohibited.
    async fn refuse_open(
        &self,
        reply: ChannelOpenHandle,
        what: String,
    ) -> Result<(), russh::Error> {
        self.refuse_channel(what);
        reply
            .reject(ChannelOpenFailure::AdministrativelyProhibited)
            .await;
        Ok(())
    }
}

impl russh::server::Handler for ConnHandler {
    type Error = russh::Error;

    async fn authentication_banner(&mut self) -> Result<Option<String>, Self::Error> {
        // Called when the client asks for authentication: the key exchange is done.
        self.conn.handshake_done();
        Ok(None)
    }

    async fn auth_none(&mut self, _user: &str) -> Result<Auth, Self::Error> {
        Ok(Auth::reject())
    }

    async fn auth_password(&mut self, user: &str, _password: &str) -> Result<Auth, Self::Error> {
        Ok(self.refuse(format!(
            "password login as {} refused (public keys only)",
            printable(user)
        )))
    }

    async fn auth_keyboard_interactive<'a>(
        &'a mut self,
        user: &str,
        _submethods: &str,
        _response: Option<russh::server::Response<'a>>,
    ) -> Result<Auth, Self::Error> {
        Ok(self.refuse(format!(
            "keyboard-interactive login as {} refused (public keys only)",
            printable(user)
        )))
    }

    async fn auth_publickey_offered(
        &mut self,
        user: &str,
        offer: PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        let r = access::authorize_key(
            &self.shared.entries,
            offer.public_key,
            offer.algorithm,
            self.peer().ip(),
            now_unix(),
        );
        match r {
            Ok(_) => Ok(Auth::Accept),
            // A certificate arrives here as its bare key: let it be signed and judged in
            // auth_openssh_certificate when a cert-authority exists.
            Err(_) if self.shared.entries.iter().any(|e| e.options.cert_authority) => {
                Ok(Auth::Accept)
            }
            Err(reason) => Ok(self.refuse(format!(
                "key {} ({}) for {} refused: {reason}",
                offer.public_key.fingerprint(HashAlg::Sha256),
                offer.algorithm,
                printable(user)
            ))),
        }
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        key: VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        match access::authorize_key(
            &self.shared.entries,
            key.public_key,
            key.algorithm,
            self.peer().ip(),
            now_unix(),
        ) {
            Ok(grant) => Ok(self.accept(user, grant)),
            Err(reason) => Ok(self.refuse(format!(
                "key {} ({}) for {} refused: {reason}",
                key.public_key.fingerprint(HashAlg::Sha256),
                key.algorithm,
                printable(user)
            ))),
        }
    }

    async fn auth_openssh_certificate(
        &mut self,
        user: &str,
        certificate: &Certificate,
    ) -> Result<Auth, Self::Error> {
        match access::authorize_certificate(
            &self.shared.entries,
            certificate,
            user,
            self.peer().ip(),
            now_unix(),
        ) {
            Ok(grant) => Ok(self.accept(user, grant)),
            Err(reason) => Ok(self.refuse(format!(
                "certificate \"{}\" (key {}) for {} refused: {reason}",
                printable(certificate.key_id()),
                certificate.public_key().fingerprint(HashAlg::Sha256),
                printable(user)
            ))),
        }
    }

    async fn auth_succeeded(&mut self, session: &mut Session) -> Result<(), Self::Error> {
        match self.shared.registry.promote(&self.conn) {
            Ok(()) => {
                if let Ok(mut b) = self.shared.backoff.lock() {
                    b.succeeded(Source::of(self.peer().ip()));
                }
                self.conn.touch();
            }
            Err(full) => {
                log::warn!(
                    "ssh: {}: logged in, but {} sessions are open already; disconnected",
                    self.peer(),
                    full.0
                );
                session.disconnect(
                    Disconnect::TooManyConnections,
                    &format!(
                        "sesame: too many sessions open ({}); try again later",
                        full.0
                    ),
                    "",
                )?;
            }
        }
        Ok(())
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        if self.grant.is_none() || self.conn.phase() != crate::registry::Phase::Authenticated {
            reply
                .reject(ChannelOpenFailure::AdministrativelyProhibited)
                .await;
            return Ok(());
        }
        if self.channels.len() >= MAX_CHANNELS {
            log::info!(
                "ssh: {}: more than {MAX_CHANNELS} sessions on one connection refused",
                self.peer()
            );
            reply.reject(ChannelOpenFailure::ResourceShortage).await;
            return Ok(());
        }
        // Input arrives through `data` and friends; output goes through the session
        // handle. The channel object is not read, so it is dropped.
        self.channels.insert(
            channel.id(),
            Slot {
                pty: false,
                input: None,
            },
        );
        reply.accept().await;
        self.conn.touch();
        Ok(())
    }

    async fn channel_open_x11(
        &mut self,
        _channel: Channel<Msg>,
        _originator_address: &str,
        _originator_port: u32,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.refuse_open(reply, "an X11 channel".into()).await
    }

    async fn channel_open_direct_tcpip(
        &mut self,
        _channel: Channel<Msg>,
        host_to_connect: &str,
        port_to_connect: u32,
        _originator_address: &str,
        _originator_port: u32,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.refuse_open(
            reply,
            format!(
                "port forwarding to {}:{port_to_connect}",
                printable(host_to_connect)
            ),
        )
        .await
    }

    async fn channel_open_forwarded_tcpip(
        &mut self,
        _channel: Channel<Msg>,
        host_to_connect: &str,
        port_to_connect: u32,
        _originator_address: &str,
        _originator_port: u32,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.refuse_open(
            reply,
            format!(
                "a forwarded-tcpip channel to {}:{port_to_connect}",
                printable(host_to_connect)
            ),
        )
        .await
    }

    async fn channel_open_direct_streamlocal(
        &mut self,
        _channel: Channel<Msg>,
        socket_path: &str,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.refuse_open(
            reply,
            format!("socket forwarding to {}", printable(socket_path)),
        )
        .await
    }

    async fn tcpip_forward(
        &mut self,
        address: &str,
        port: &mut u32,
        _session: &mut Session,
    ) -> Result<bool, Self::Error> {
        self.refuse_channel(format!(
            "remote port forwarding from {}:{port}",
            printable(address)
        ));
        Ok(false)
    }

    async fn cancel_tcpip_forward(
        &mut self,
        _address: &str,
        _port: u32,
        _session: &mut Session,
    ) -> Result<bool, Self::Error> {
        Ok(false)
    }

    async fn streamlocal_forward(
        &mut self,
        socket_path: &str,
        _session: &mut Session,
    ) -> Result<bool, Self::Error> {
        self.refuse_channel(format!(
            "remote socket forwarding from {}",
            printable(socket_path)
        ));
        Ok(false)
    }

    async fn cancel_streamlocal_forward(
        &mut self,
        _socket_path: &str,
        _session: &mut Session,
    ) -> Result<bool, Self::Error> {
        Ok(false)
    }

    async fn agent_request(
        &mut self,
        _channel: ChannelId,
        _session: &mut Session,
    ) -> Result<bool, Self::Error> {
        self.refuse_channel("agent forwarding".into());
        Ok(false)
    }

    async fn x11_request(
        &mut self,
        channel: ChannelId,
        _single_connection: bool,
        _x11_auth_protocol: &str,
        _x11_auth_cookie: &str,
        _x11_screen_number: u32,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.refuse_channel("X11 forwarding".into());
        session.channel_failure(channel)
    }

    async fn env_request(
        &mut self,
        channel: ChannelId,
        variable_name: &str,
        _variable_value: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        // Clients send LANG and friends routinely: refused quietly, the value never logged.
        log::debug!(
            "ssh: {}: env {} refused",
            self.peer(),
            printable(variable_name)
        );
        session.channel_failure(channel)
    }

    async fn subsystem_request(
        &mut self,
        channel: ChannelId,
        name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.refuse_channel(format!("subsystem `{}`", printable(name)));
        session.channel_failure(channel)
    }

    #[allow(clippy::too_many_arguments)]
    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _col_width: u32,
        _row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let permitted = self.grant.as_ref().is_some_and(|g| g.permit_pty);
        match self.channels.get_mut(&channel) {
            Some(slot) if permitted && slot.input.is_none() => {
                slot.pty = true;
                session.channel_success(channel)
            }
            Some(_) if !permitted => {
                log::info!(
                    "ssh: {}: no pty for this key (no-pty or restrict)",
                    self.peer()
                );
                session.channel_failure(channel)
            }
            _ => session.channel_failure(channel),
        }
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.start(channel, None, session)
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.start(channel, Some(data), session)
    }

    async fn data(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.conn.touch();
        if let Some(input) = self.channels.get(&channel).and_then(|s| s.input.as_ref()) {
            if !input.data(data) {
                log::debug!("ssh: {}: input dropped (too much queued)", self.peer());
            }
        }
        Ok(())
    }

    async fn channel_eof(
        &mut self,
        channel: ChannelId,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.forward(channel, Event::Eof);
        Ok(())
    }

    async fn channel_close(
        &mut self,
        channel: ChannelId,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.forward(channel, Event::Closed);
        self.channels.remove(&channel);
        Ok(())
    }

    async fn signal(
        &mut self,
        channel: ChannelId,
        signal: Sig,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        if matches!(
            signal,
            Sig::INT | Sig::TERM | Sig::HUP | Sig::KILL | Sig::QUIT
        ) {
            self.forward(channel, Event::Interrupt);
        }
        Ok(())
    }
}
