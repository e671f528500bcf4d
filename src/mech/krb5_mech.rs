//! The native krb5 mechanism behind the mechanism interface.

use krb5::gss::acceptor::{self, AcceptorOptions};
use krb5::gss::context::EstablishedContext;
use krb5::gss::initiator::{self, InitiatorOptions};
use krb5::gss::replay::ReplayCache;
use krb5::gss::status::GssError;
use krb5::gss::token::KRB5_OID;
use krb5::Principal;
use zeroize::Zeroizing;

use super::{
    major, AcceptOptions, Accepted, AcceptorCredential, InitStep, InitiatorRequest, Mechanism,
    PendingContext, Rejected, SecurityContext,
};

/// The krb5 mechanism, OID 1.2.840.113554.1.2.2.
#[derive(Debug, Default)]
pub struct Krb5Mechanism;

impl Mechanism for Krb5Mechanism {
    fn oid(&self) -> &'static [u8] {
        KRB5_OID
    }

    fn name(&self) -> &'static str {
        "krb5"
    }

    fn init_sec_context(&self, request: &InitiatorRequest<'_>) -> Result<InitStep, GssError> {
        let options = InitiatorOptions {
            flags: request.flags,
            enctypes: request.enctypes,
            now: request.now,
        };
        Ok(
            match initiator::init_sec_context(request.ticket, &options)? {
                initiator::InitStep::ContinueNeeded(pending, token) => {
                    InitStep::ContinueNeeded(Box::new(Pending(pending)), token)
                }
                initiator::InitStep::Complete(context, token) => {
                    InitStep::Complete(Box::new(Context(*context)), token)
                }
            },
        )
    }

    fn accept_sec_context(
        &self,
        credential: &AcceptorCredential,
        replay_cache: &ReplayCache,
        options: &AcceptOptions<'_>,
        input: &[u8],
    ) -> Result<Accepted, Rejected> {
        let options = AcceptorOptions {
            acceptor_name: credential.principal.as_ref(),
            enctypes: options.enctypes,
            clockskew: options.clockskew,
            now: options.now,
        };
        let accepted =
            acceptor::accept_sec_context(&credential.keytab, replay_cache, &options, input)?;
        Ok(Accepted {
            context: Box::new(Context(accepted.context)),
            output_token: accepted.output_token,
        })
    }
}

struct Pending(Box<initiator::PendingContext>);

impl PendingContext for Pending {
    fn complete(self: Box<Self>, reply: &[u8]) -> Result<Box<dyn SecurityContext>, GssError> {
        let context = self.0.complete(reply)?;
        Ok(Box::new(Context(context)))
    }
}

#[derive(Debug)]
struct Context(EstablishedContext);

impl SecurityContext for Context {
    fn export(&self) -> Result<Zeroizing<Vec<u8>>, GssError> {
        self.0
            .export_lucid()
            .map_err(|e| GssError::new(major::FAILURE, 0, e.to_string()))
    }

    fn endtime(&self) -> u32 {
        self.0.endtime
    }

    fn initiator_name(&self) -> &Principal {
        &self.0.initiator_name
    }

    fn acceptor_name(&self) -> &Principal {
        &self.0.acceptor_name
    }

    fn verify_mic(&self, message: &[u8], token: &[u8]) -> Result<(), GssError> {
        self.0
            .verify_mic(message, token)
            .map(|_| ())
            .map_err(GssError::from)
    }
}
